import type { TestContext } from 'node:test';
import { performance } from 'node:perf_hooks';
import { agentWorld } from '../mcp/support.js';
import { targetDatabase } from '../support/pg.js';
import { requireServer } from '../support/servers.js';

const ORDERS = `CREATE TABLE orders (id int PRIMARY KEY, tenant_id int NOT NULL, note text);
INSERT INTO orders VALUES (1, 1, 'first'), (2, 1, 'second'), (3, 2, 'third');`;

/**
 * The SDK's world: the server listening on 127.0.0.1 at a free port, agent `agent-1` with a token, and one
 * PostgreSQL connector (a fresh database with an `orders` table) attached as `db` (read) and `rw` (read_write).
 */
export async function sdkWorld(t: TestContext) {
  if (!(await requireServer(t, 'postgresql'))) return undefined;
  const w = await agentWorld(t);
  const target = await targetDatabase(t, ORDERS);
  if (!w || !target) return undefined;
  const pg = await w.connector('postgresql', { host: '127.0.0.1', port: 5432, username: 'postgres', database: target.name });
  await w.attach(pg, 'db');
  await w.attach(pg, 'rw', { mode: 'read_write' });
  return { ...w, target, pg };
}

export interface RecordedCall {
  method: string;
  url: string;
  /** When the request was sent (performance.now()). */
  at: number;
}

/**
 * A fetch that records every request it sends, and lets a test rewrite the responses (to shorten a server's
 * wait, or to act between a refusal and its retry).
 */
export function recordingFetch(rewrite?: (response: Response) => Response | Promise<Response>) {
  const calls: RecordedCall[] = [];
  const recorded: typeof fetch = async (input, init) => {
    calls.push({ method: init?.method ?? 'GET', url: String(input), at: performance.now() });
    const response = await fetch(input, init);
    return rewrite ? rewrite(response) : response;
  };
  return { fetch: recorded, calls };
}
