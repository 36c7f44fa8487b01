import { PatchbayError } from '../../errors.js';

/**
 * The messaging boundaries of DESIGN.md section 7: a connector's queue, exchange or stream is an exact name, its
 * MQTT topic or NATS subject a filter (wildcards included). A request may name the configured value or, for a
 * filter, anything the filter covers; outside it the answer is scope_denied.
 */

/** The name a request uses: its own, which must equal the connector's when that is set, else the connector's. */
export function exactScope(kind: string, configured: string | undefined, requested: string | undefined): string | undefined {
  if (configured !== undefined && requested !== undefined && requested !== configured) {
    throw new PatchbayError('scope_denied', `this connector may only use ${kind} ${configured}`);
  }
  return requested ?? configured;
}

/** validation_failed at `field` when neither the request nor the connector names one. */
export function required(field: string, value: string | undefined): string {
  if (value === undefined) {
    throw new PatchbayError('validation_failed', `${field} is required: the connector sets none`, {
      errors: [{ path: field, message: 'required when the connector sets none' }],
    });
  }
  return value;
}

/** How a protocol spells topic levels and wildcards. */
export interface FilterSyntax {
  /** What the boundary is called in messages: `topic`, `subject`. */
  kind: string;
  separator: string;
  /** Matches exactly one level. */
  one: string;
  /** Matches the remaining levels; only as the last level. */
  rest: string;
  /** Whether `rest` also matches the parent level itself (MQTT `a/#` matches `a`; NATS `a.>` does not match `a`). */
  restMatchesParent: boolean;
  /** Whether a leading wildcard skips `$` names (MQTT `#` never matches `$SYS/…`). */
  dollarIsSystem: boolean;
}

export const MQTT_TOPICS: FilterSyntax = {
  kind: 'topic',
  separator: '/',
  one: '+',
  rest: '#',
  restMatchesParent: true,
  dollarIsSystem: true,
};

export const NATS_SUBJECTS: FilterSyntax = {
  kind: 'subject',
  separator: '.',
  one: '*',
  rest: '>',
  restMatchesParent: false,
  dollarIsSystem: false,
};

/**
 * Whether every name that `request` (a name or a filter) matches is also matched by `boundary`: `a/+/c` lies
 * within `a/#`, `a/#` does not lie within `a/+`.
 */
export function filterCovers(syntax: FilterSyntax, boundary: string, request: string): boolean {
  const outer = boundary.split(syntax.separator);
  const inner = request.split(syntax.separator);
  for (const [index, level] of outer.entries()) {
    const candidate = inner[index];
    const systemName = syntax.dollarIsSystem && index === 0 && candidate?.startsWith('$') === true;
    if (level === syntax.rest) {
      return !systemName && (syntax.restMatchesParent || inner.length > index);
    }
    if (candidate === undefined) return false;
    if (level === syntax.one) {
      if (candidate === syntax.rest || systemName) return false;
    } else if (candidate !== level) {
      return false;
    }
  }
  return inner.length === outer.length;
}

/** A consume's filter: the request's (else the connector's), refused with scope_denied outside the boundary. */
export function filterScope(syntax: FilterSyntax, boundary: string | undefined, requested: string | undefined): string {
  return withinBoundary(syntax, boundary, required(syntax.kind, requested ?? boundary));
}

/**
 * A publish's one concrete name: the request's, else the connector's when that holds no wildcard; refused with
 * scope_denied outside the boundary.
 */
export function nameScope(syntax: FilterSyntax, boundary: string | undefined, requested: string | undefined): string {
  const concrete = boundary?.split(syntax.separator).every((level) => level !== syntax.one && level !== syntax.rest);
  return withinBoundary(syntax, boundary, required(syntax.kind, requested ?? (concrete ? boundary : undefined)));
}

function withinBoundary(syntax: FilterSyntax, boundary: string | undefined, target: string): string {
  if (boundary !== undefined && !filterCovers(syntax, boundary, target)) {
    throw new PatchbayError('scope_denied', `${syntax.kind} ${target} is outside this connector's ${syntax.kind} ${boundary}`);
  }
  return target;
}
