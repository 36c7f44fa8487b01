import assert from 'node:assert/strict';
import type { FastifyInstance } from 'fastify';
import { bearer } from './app.js';

/** Helpers for route tests: a caller bound to one credential, and asserters for answers and problems. */

export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface Reply {
  statusCode: number;
  body: string;
  headers: Record<string, unknown>;
  json(): unknown;
}

export interface ProblemBody {
  code: string;
  status: number;
  errors?: { path: string; message: string }[];
}

export type Call = (method: Method, url: string, payload?: unknown, headers?: Record<string, string>) => Promise<Reply>;

/**
 * A caller with one credential (none when `key` is undefined), optionally naming an organisation with
 * X-Organization-Id. `url` is relative to /api/v1.
 */
export const client =
  (app: FastifyInstance, key: string | undefined, org?: string): Call =>
  (method, url, payload, headers) =>
    app.inject({
      method,
      url: `/api/v1${url}`,
      headers: { ...(key === undefined ? {} : bearer(key)), ...(org ? { 'x-organization-id': org } : {}), ...headers },
      payload: payload as never,
    });

/** Asserts an RFC 9457 problem with this status and code (never the wording) and returns its body. */
export function problem(response: Reply, status: number, code: string): ProblemBody {
  assert.equal(response.statusCode, status, response.body);
  const body = response.json() as ProblemBody;
  assert.equal(body.code, code, response.body);
  return body;
}

/** Asserts a success with this status and returns the parsed body. */
export function ok<T>(response: Reply, status = 200): T {
  assert.equal(response.statusCode, status, response.body);
  return response.json() as T;
}

/** The field paths of a validation problem, sorted. */
export const errorPaths = (body: ProblemBody): string[] => (body.errors ?? []).map((e) => e.path).sort();

/**
 * Every route the app serves as `METHOD /path` with Fastify's `:param` names, read from printRoutes (Fastify
 * has no public route list once the app is built). HEAD and OPTIONS, which Fastify adds itself, are left out,
 * and a trailing slash is dropped (a prefix's '/' route answers both ways).
 */
export async function registeredRoutes(app: FastifyInstance): Promise<string[]> {
  await app.ready();
  const tree = app.printRoutes({ commonPrefix: false });
  const stack: string[] = [];
  const routes = new Set<string>();
  for (const line of tree.split('\n')) {
    const match = /^([│ ]*)[├└]── (\S+) \(([^)]+)\)$/u.exec(line.trimEnd());
    if (!match) continue;
    const [, indent = '', segment = '', methods = ''] = match;
    const depth = indent.length / 4;
    stack.length = depth;
    stack.push(segment);
    const path = stack.join('').replace(/(.)\/$/, '$1');
    for (const method of methods.split(', ')) {
      if (method !== 'HEAD' && method !== 'OPTIONS') routes.add(`${method} ${path}`);
    }
  }
  return [...routes].sort();
}
