import type { DefaultOperations, Operations } from './operations.js';

/** A provider's wire id: `postgresql`, `redis`, `s3`, … */
export type ProviderId = keyof Operations;

/** The operations of provider `P`, e.g. `'list' | 'head' | 'get' | 'put' | 'delete'` for `s3`. */
export type OperationName<P extends ProviderId> = keyof Operations[P] & string;

/**
 * One operation's request: its input, and its name in `operation` (which the provider's default operation may
 * leave out), e.g. `{query, params}` or `{operation: 'get', key}`.
 */
export type OperationRequest<P extends ProviderId, Op extends OperationName<P>> = (Op extends DefaultOperations[P]
  ? { operation?: Op }
  : { operation: Op }) &
  Operations[P][Op];

/** What `execute` takes for an attachment of provider `P`: any of its operations, told apart by `operation`. */
export type ExecuteRequest<P extends ProviderId = ProviderId> = P extends ProviderId
  ? { [Op in OperationName<P>]: OperationRequest<P, Op> }[OperationName<P>]
  : never;

/**
 * The provider behind each alias, declared once for typed calls: `new PatchbayAgent<{ db: 'postgresql' }>(…)`
 * makes `execute('db', …)` take PostgreSQL requests only, and an alias not listed a compile error.
 */
export type AliasMap = Record<string, ProviderId>;
