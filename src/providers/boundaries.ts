import type { FieldError } from '../errors.js';
import { filterCovers, MQTT_TOPICS, NATS_SUBJECTS, type FilterSyntax } from './_shared/messaging-scope.js';

/**
 * DESIGN.md section 7: a connector's prefix, topic, queue, subject, channel or exchange is a boundary that an
 * attachment's config_override may only narrow. Checked once when the override is saved (the providers check the
 * requests of each call against the merged config). A boundary the connector leaves unset may be set freely.
 */
type Rule = 'prefix' | 'exact' | FilterSyntax;

const rules: Readonly<Record<string, Readonly<Record<string, Rule>>>> = {
  s3: { prefix: 'prefix' },
  minio: { prefix: 'prefix' },
  gcs: { prefix: 'prefix' },
  azure_blob: { prefix: 'prefix' },
  kafka: { topic: 'exact' },
  rabbitmq: { queue: 'exact', exchange: 'exact' },
  redis_pubsub: { channel: 'exact' },
  mqtt: { topic: MQTT_TOPICS },
  nats: { subject: NATS_SUBJECTS },
};

function narrows(rule: Rule, boundary: string, value: string): boolean {
  if (rule === 'prefix') return value.startsWith(boundary);
  if (rule === 'exact') return value === boundary;
  return filterCovers(rule, boundary, value);
}

/** The override's fields that would widen a boundary of the connector's config, as 422 field errors. */
export function wideningIssues(providerId: string, base: Record<string, unknown>, override: Record<string, unknown>): FieldError[] {
  const providerRules = rules[providerId] ?? {};
  const issues: FieldError[] = [];
  for (const [field, rule] of Object.entries(providerRules)) {
    const boundary = base[field];
    const value = override[field];
    if (typeof boundary !== 'string' || boundary === '' || value === undefined) continue;
    if (typeof value !== 'string' || !narrows(rule, boundary, value)) {
      const how = rule === 'prefix' ? `start with "${boundary}"` : rule === 'exact' ? `be "${boundary}"` : `lie within "${boundary}"`;
      issues.push({ path: `config_override.${field}`, message: `may only narrow the connector's ${field}: it must ${how}` });
    }
  }
  return issues;
}
