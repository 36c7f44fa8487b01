import type { FastifySerializerCompiler } from 'fastify/types/schema.js';
import { serializerCompiler } from 'fastify-type-provider-zod';

/**
 * The 200 answer of the execute routes, the run-time path's hottest write: the envelope is written around the JSON
 * text of `data` that the execution service already made to measure the result (max_bytes, the audit's `bytes`),
 * instead of checking and writing `data` a second and a third time. Any other status keeps the schema's serializer.
 */

const dataJson = new WeakMap<object, string>();

/** Keeps the JSON text of `result.data`, made by whoever measured it; valid as long as `data` is not changed. */
export function rememberDataJson(result: object, json: string): void {
  dataJson.set(result, json);
}

interface Envelope {
  ok: boolean;
  data: unknown;
  latency_ms: number;
  truncated: boolean;
}

function serializeEnvelope(result: Envelope): string {
  const data = dataJson.get(result) ?? JSON.stringify(result.data) ?? 'null';
  return `{"ok":${result.ok === true},"data":${data},"latency_ms":${Math.round(Number(result.latency_ms)) || 0},"truncated":${result.truncated === true}}`;
}

export const executeSerializerCompiler: FastifySerializerCompiler<unknown> = (route) =>
  route.httpStatus === '200' ? (serializeEnvelope as (data: unknown) => string) : serializerCompiler(route as Parameters<typeof serializerCompiler>[0]);
