/**
 * The silent-peer part of bench/execute-overhead: a TCP listener that accepts connections and never sends a byte.
 * A connection test against it (harness.test with connect_timeout_ms) must give up on time whatever the client
 * library does. Goal: the median elapsed time within connect_timeout_ms + 10 %.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { ProviderHarness } from '../src/providers/harness.js';
import { summarize } from './stats.js';

export interface SilentPeerResult {
  providerId: string;
  timeoutMs: number;
  median: number;
  p95: number;
  runs: number;
  /** Each run's error_code (expected: timeout). */
  codes: string[];
}

// Each database provider's config against the listener: a login is required by some, never reached by any.
const providers: Record<string, (port: number, timeoutMs: number) => Record<string, unknown>> = {
  postgresql: (port, timeoutMs) => ({
    host: '127.0.0.1',
    port,
    username: 'bench',
    database: 'bench',
    connect_timeout_ms: timeoutMs,
  }),
  mysql: (port, timeoutMs) => ({ host: '127.0.0.1', port, username: 'bench', connect_timeout_ms: timeoutMs }),
  redis: (port, timeoutMs) => ({ host: '127.0.0.1', port, connect_timeout_ms: timeoutMs }),
};

/**
 * Runs `runs` rounds; in a round every provider's test with every timeout runs side by side (each one only waits,
 * and a round lasts as long as the longest timeout).
 */
export async function measureSilentPeer(
  harness: ProviderHarness,
  options: { timeoutsMs: number[]; runs: number },
): Promise<SilentPeerResult[]> {
  const peer = await silentListener();
  try {
    const cases = options.timeoutsMs.flatMap((timeoutMs) =>
      Object.entries(providers).map(([providerId, config]) => ({
        providerId,
        timeoutMs,
        config,
        elapsed: [] as number[],
        codes: [] as string[],
      })),
    );
    for (let run = 0; run < options.runs; run += 1) {
      await Promise.all(
        cases.map(async (test) => {
          const started = performance.now();
          const result = await harness.test(test.providerId, test.config(peer.port, test.timeoutMs));
          test.elapsed.push(performance.now() - started);
          test.codes.push(result.error_code ?? (result.success ? 'success' : 'none'));
        }),
      );
    }
    return cases.map(({ providerId, timeoutMs, elapsed, codes }) => ({ providerId, timeoutMs, ...summarize(elapsed), codes }));
  } finally {
    await peer.close();
  }
}

/** A listener on 127.0.0.1 that accepts and stays silent; close() destroys the connections it still holds. */
async function silentListener(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // a client giving up resets the connection
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
