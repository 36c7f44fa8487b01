import { createHmac, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestContext } from 'node:test';

/** One POST a receiver got: its headers, its raw body (what the signature covers) and the parsed event. */
export interface ReceivedDelivery {
  headers: http.IncomingHttpHeaders;
  body: string;
  event: { id: string; type: string; created_at: string; organization_id: string; data: Record<string, unknown> };
}

/**
 * A webhook receiver on 127.0.0.1 at a free port, closed after the test. It answers each POST with the next
 * status of `statuses` (200 once they run out) and records what it got.
 */
export async function webhookReceiver(t: TestContext, statuses: number[] = []) {
  const received: ReceivedDelivery[] = [];
  const answers = [...statuses];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: request.headers, body, event: JSON.parse(body) as ReceivedDelivery['event'] });
      response.writeHead(answers.shift() ?? 200, { 'content-type': 'text/plain' }).end('thanks');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise((resolve) => server.close(resolve)));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/hooks/patchbay`, port, received };
}

/**
 * What a receiver does with Patchbay-Signature (the README's example, as a test helper): recompute
 * HMAC-SHA256 of "<t>.<raw body>" under the shared secret and compare in constant time. Returns the timestamp.
 */
export function verifySignature(header: string | string[] | undefined, body: string, secret: string): number {
  const parts = Object.fromEntries(String(header).split(',').map((part) => part.split('=') as [string, string]));
  const timestamp = Number(parts.t);
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  if (!Number.isInteger(timestamp) || given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new Error(`bad signature: ${String(header)}`);
  }
  return timestamp;
}

/**
 * A clock the test moves by hand: frozen at its start, or (`follow`) the real time plus what the test advanced,
 * for tests where the app's own services (on the real clock) write rows this clock must find due.
 */
export function manualClock(options: { follow?: boolean } = {}) {
  const start = Date.now();
  let offset = 0;
  return {
    now: () => new Date((options.follow ? Date.now() : start) + offset),
    advance(ms: number) {
      offset += ms;
    },
  };
}
