/**
 * A mixed load from the benchmark's own thread against server processes: many concurrent clients, each in a loop
 * picking its next call by weight, every call's latency and outcome recorded by kind, failures by their stable
 * error code (from the problem+json body, a failed test's `error_code`, or an MCP tool error).
 */
import { performance } from 'node:perf_hooks';
import type { Client } from '@modelcontextprotocol/sdk/client/index.js';
import type { HttpAnswer } from './load.js';
import { percentile } from './stats.js';

export interface Outcome {
  ok: boolean;
  /** Why it failed: the error code, `http_<status>` without one, `network` for a transport failure. */
  code?: string;
  /** The failure's text, kept for the first failure of each code. */
  detail?: string;
}

export type Call = () => Promise<Outcome>;

const codeIn = (text: string): string | undefined => text.match(/"(?:code|error_code)":"([a-z_]+)"/)?.[1];

/**
 * A call that answers `expected` is ok, unless `accept` (given the parsed body) says otherwise: a connection test
 * answers 200 with `success: false` and its `error_code`. Anything else fails with its code.
 */
export function httpOutcome(answer: HttpAnswer, expected: number, accept?: (body: unknown) => boolean): Outcome {
  if (answer.status === 0) return { ok: false, code: 'network', detail: answer.body };
  if (answer.status === expected && (!accept || accept(JSON.parse(answer.body)))) return { ok: true };
  return { ok: false, code: codeIn(answer.body) ?? `http_${answer.status}`, detail: `${answer.status} ${answer.body.slice(0, 300)}` };
}

/** `accept` for a connection test's answer. */
export const testSucceeded = (body: unknown) => (body as { success?: unknown }).success === true;

/** One MCP `tools/call`: a tool error carries its code; a refused HTTP request (429, 401) comes as an exception. */
export async function mcpOutcome(client: Client, name: string, args: Record<string, unknown>): Promise<Outcome> {
  try {
    const result = await client.callTool({ name, arguments: args });
    if (!result.isError) return { ok: true };
    const text = JSON.stringify(result);
    return { ok: false, code: codeIn(text) ?? 'mcp_tool_error', detail: text.slice(0, 300) };
  } catch (error) {
    const message = (error as Error).message;
    return { ok: false, code: codeIn(message) ?? 'network', detail: message.slice(0, 300) };
  }
}

/** Picks a kind by weight: [['list', 15], ['create', 5], …]. */
export function weighted<Kind extends string>(mix: readonly (readonly [Kind, number])[]): () => Kind {
  const total = mix.reduce((sum, [, weight]) => sum + weight, 0);
  return () => {
    let draw = Math.random() * total;
    for (const [kind, weight] of mix) {
      draw -= weight;
      if (draw < 0) return kind;
    }
    return mix[mix.length - 1]![0];
  };
}

interface KindLog {
  latencies: number[];
  failures: number;
}

/** Every call's latency and outcome, by kind; failures by code, with the first detail of each. */
export class CallLog {
  private readonly kinds = new Map<string, KindLog>();
  readonly errors = new Map<string, { count: number; detail?: string }>();
  calls = 0;

  record(kind: string, ms: number, outcome: Outcome): void {
    let log = this.kinds.get(kind);
    if (!log) this.kinds.set(kind, (log = { latencies: [], failures: 0 }));
    log.latencies.push(ms);
    this.calls += 1;
    if (outcome.ok) return;
    log.failures += 1;
    const code = outcome.code ?? 'unknown';
    const seen = this.errors.get(code);
    if (seen) seen.count += 1;
    else this.errors.set(code, { count: 1, detail: outcome.detail });
  }

  get failed(): number {
    let failed = 0;
    for (const { count } of this.errors.values()) failed += count;
    return failed;
  }

  /** Calls per second, then per kind: count, p50 and p99 in ms, failures; then failures by code. */
  print(elapsedS: number): void {
    console.log(`  ${this.calls} calls in ${elapsedS.toFixed(1)} s: ${(this.calls / elapsedS).toFixed(0)} calls/s, ${this.failed} failed`);
    console.log(`  ${'kind'.padEnd(10)}${'calls'.padStart(8)}${'/s'.padStart(7)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'failed'.padStart(8)}`);
    for (const [kind, { latencies, failures }] of [...this.kinds.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const sorted = [...latencies].sort((a, b) => a - b);
      console.log(
        `  ${kind.padEnd(10)}${String(sorted.length).padStart(8)}${(sorted.length / elapsedS).toFixed(0).padStart(7)}` +
          `${percentile(sorted, 50).toFixed(1).padStart(9)}${percentile(sorted, 99).toFixed(1).padStart(9)}${String(failures).padStart(8)}`,
      );
    }
    for (const [code, { count, detail }] of this.errors) console.log(`  error ${code}: ${count}  (first: ${detail ?? '-'})`);
  }
}

/**
 * Runs `clients` callers side by side; each repeatedly asks `next(client)` for its next call and records it, until
 * `running()` turns false. Resolves when every caller's last call has ended.
 */
export async function driveClients(
  clients: number,
  next: (client: number) => { kind: string; call: Call },
  running: () => boolean,
  log: CallLog,
): Promise<void> {
  const caller = async (client: number) => {
    while (running()) {
      const { kind, call } = next(client);
      const started = performance.now();
      const outcome = await call();
      log.record(kind, performance.now() - started, outcome);
    }
  };
  await Promise.all(Array.from({ length: clients }, (_, client) => caller(client)));
}
