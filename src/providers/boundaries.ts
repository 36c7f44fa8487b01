import type { z } from 'zod';
import { PatchbayError, type FieldError } from '../errors.js';
import { filterCovers, MQTT_TOPICS, NATS_SUBJECTS, type FilterSyntax } from './_shared/messaging-scope.js';
import { getProvider, unwrap } from './registry.js';
import type { BoundaryRule, Provider } from './types.js';

/**
 * DESIGN.md section 7: a connector's prefix, topic, queue, subject, channel or exchange is a boundary that an
 * attachment's config_override may only narrow. Each provider marks those fields with `boundary(rule, field)`
 * (types.ts); this reads the marks. Checked when the override is saved, and again on every call against the
 * connector's boundaries of that moment (effectiveConfig), since a connector may be narrowed after the
 * attachment was made; the providers check each request against the merged config. A boundary the connector
 * leaves unset may be set freely.
 */

const FILTERS: Readonly<Record<Extract<BoundaryRule, `${string}_filter`>, FilterSyntax>> = {
  mqtt_filter: MQTT_TOPICS,
  nats_filter: NATS_SUBJECTS,
};

const declared = new WeakMap<Provider, ReadonlyMap<string, BoundaryRule>>();

/** The provider's boundary fields and their rules, read from its config schema once. */
function boundariesOf(providerId: string): ReadonlyMap<string, BoundaryRule> {
  const provider = getProvider(providerId);
  if (!provider) return new Map();
  let fields = declared.get(provider);
  if (!fields) {
    fields = new Map(
      Object.entries(provider.config.shape).flatMap(([name, field]) => {
        const rule = unwrap(field as z.ZodType).meta.boundary as BoundaryRule | undefined;
        return rule === undefined ? [] : [[name, rule] as const];
      }),
    );
    declared.set(provider, fields);
  }
  return fields;
}

function narrows(rule: BoundaryRule, boundary: string, value: string): boolean {
  if (rule === 'prefix') return value.startsWith(boundary);
  if (rule === 'exact') return value === boundary;
  return filterCovers(FILTERS[rule], boundary, value);
}

interface Violation {
  field: string;
  rule: BoundaryRule;
  boundary: string;
  value: unknown;
}

/** The override's boundary fields that do not lie inside the connector's boundaries. */
function violations(providerId: string, base: Record<string, unknown>, override: Record<string, unknown>): Violation[] {
  const found: Violation[] = [];
  for (const [field, rule] of boundariesOf(providerId)) {
    const boundary = base[field];
    const value = override[field];
    if (typeof boundary !== 'string' || boundary === '' || value === undefined) continue;
    if (typeof value !== 'string' || !narrows(rule, boundary, value)) found.push({ field, rule, boundary, value });
  }
  return found;
}

/**
 * The boundary fields of `inner` that do not lie inside `outer`'s (both overrides of one attachment): what a
 * developer's change of an override may not do (DESIGN.md section 11).
 */
export function escapedBoundaries(providerId: string, outer: Record<string, unknown>, inner: Record<string, unknown>): string[] {
  return violations(providerId, outer, inner).map((v) => v.field);
}

/** Whether `field` is one of the provider's boundaries (prefix, topic, queue, subject, channel, exchange). */
export const isBoundaryField = (providerId: string, field: string): boolean => boundariesOf(providerId).has(field);

const requirement = ({ rule, boundary }: Violation) =>
  rule === 'prefix' ? `start with "${boundary}"` : rule === 'exact' ? `be "${boundary}"` : `lie within "${boundary}"`;

/** The override's fields that would widen a boundary of the connector's config, as 422 field errors. */
export function wideningIssues(providerId: string, base: Record<string, unknown>, override: Record<string, unknown>): FieldError[] {
  return violations(providerId, base, override).map((v) => ({
    path: `config_override.${v.field}`,
    message: `may only narrow the connector's ${v.field}: it must ${requirement(v)}`,
  }));
}

/**
 * Why an attachment's override no longer lies inside the connector's current boundaries (the connector was
 * narrowed or moved after the attachment was made); null while it does. Boundaries are names, not secrets.
 */
export function boundaryViolation(providerId: string, base: Record<string, unknown>, override: Record<string, unknown>): string | null {
  const found = violations(providerId, base, override);
  if (found.length === 0) return null;
  return found
    .map((v) => `the override's ${v.field} ${JSON.stringify(v.value)} is outside the connector's ${v.field}: it must ${requirement(v)}`)
    .join('; ');
}

/**
 * The config a call runs with, evaluated at call time: the connector's current config narrowed by the
 * attachment's override. An override that is no longer inside the connector's boundaries answers scope_denied
 * rather than reaching past them.
 */
export function effectiveConfig(
  providerId: string,
  base: Record<string, unknown>,
  override: Record<string, unknown> | null | undefined,
): Record<string, unknown> {
  if (!override) return base;
  const reason = boundaryViolation(providerId, base, override);
  if (reason) throw new PatchbayError('scope_denied', `this attachment is no longer valid: ${reason}`);
  return { ...base, ...override };
}
