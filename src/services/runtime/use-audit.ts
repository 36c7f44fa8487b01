import { getProvider } from '../../providers/registry.js';
import type { CallSummary } from '../../providers/types.js';

/**
 * What the audit log keeps of each execute besides its outcome (DESIGN.md section 9: never a secret or a literal
 * value): the summary the operation gives of its call (a SQL statement's class and fingerprint, a Redis command,
 * an HTTP method), and the size of the answer.
 */

/** The operation's own summary of a call (`Operation.summarize`); none for an unknown provider or operation. */
export function summarizeCall(providerId: string, operation: string | null, input: Record<string, unknown>): CallSummary {
  const provider = getProvider(providerId);
  if (!provider || operation === null || !Object.hasOwn(provider.operations, operation)) return {};
  return provider.operations[operation]?.summarize?.(input) ?? {};
}

/** Rows (or messages, documents, objects, elements) in an answer, when it has a count; null when it has none. */
export function countRows(data: unknown): number | null {
  if (Array.isArray(data)) return data.length;
  if (data === null || typeof data !== 'object') return null;
  const record = data as Record<string, unknown>;
  if (typeof record.row_count === 'number') return record.row_count;
  for (const key of ['rows', 'messages', 'documents', 'objects', 'tables']) {
    const value = record[key];
    if (Array.isArray(value)) return value.length;
  }
  return null;
}

/** The size of a value as JSON, in bytes. */
export const jsonBytes = (value: unknown): number => Buffer.byteLength(JSON.stringify(value) ?? 'null');
