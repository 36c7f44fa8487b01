import { z } from 'zod';
import { describeFields, listProviders } from '../providers/registry.js';
import type { Provider } from '../providers/types.js';
import { documentedAs } from './documented.js';
import { nameString, plainString, storableJsonObject, textString } from './strings.js';
import { aliasSchema, connectorTypes, limitsSchema, MASK, modeSchema } from './vocabulary.js';

const configObject = z
  .record(z.string(), z.unknown())
  .describe('The provider\'s config fields (GET /api/v1/connectors/types lists them). Secret fields are write-only.');

export const connectorTypeEnum = z.enum(connectorTypes);
export const connectorStatusEnum = z.enum(['untested', 'healthy', 'failing', 'disabled']);

/** On every view of a resource a provisioning file may own (docs/provisioning.md). */
export const managedBySchema = z
  .enum(['file'])
  .nullable()
  .describe('"file" when `patchbay apply` created or last changed it: the API then answers 409 conflict to a change or delete unless X-Patchbay-Override-Managed: true');

/**
 * A body naming its provider, as the OpenAPI document shows it: one variant per provider of the registry, with that
 * provider's `connector_type` and config schema (secret fields write-only). The route validates `body` itself, whose
 * config is any object: the service then checks it against the provider's schema and names each wrong field as
 * `config.<field>`, so the document is exact while validation answers as it always has.
 */
function perProvider<T extends z.ZodObject>(body: T): T {
  const variants = listProviders().map((provider) =>
    body
      .extend({ connector_type: z.literal(provider.type), provider: z.literal(provider.id), config: provider.config.strict() })
      .meta({ title: provider.id, description: provider.description }),
  );
  const union = z.discriminatedUnion('provider', variants as unknown as [z.ZodObject, ...z.ZodObject[]]);
  return documentedAs(body, union.meta({ discriminator: { propertyName: 'provider' } }));
}

/** A provider's config as an update takes it: any field may be left out, null removes an optional one, MASK keeps a secret. */
function configChangesOf(provider: Provider): z.ZodObject {
  const fields = new Map(describeFields(provider).map((field) => [field.name, field]));
  const shape = Object.fromEntries(
    Object.entries(provider.config.shape).map(([name, field]) => {
      const { required, secret } = fields.get(name) ?? { required: false, secret: false };
      const forms = [field as z.ZodType, ...(secret ? [z.literal(MASK).describe('keeps the stored secret')] : []), ...(required ? [] : [z.null()])];
      if (forms.length === 1) return [name, (field as z.ZodType).optional()];
      return [name, (secret ? z.union(forms).meta({ writeOnly: true }) : z.union(forms)).optional()];
    }),
  );
  return z.strictObject(shape).meta({ title: provider.id });
}

export const createConnectorBody = perProvider(
  z.strictObject({
    name: nameString(200),
    connector_type: plainString().describe('database, api, storage or messaging'),
    provider: plainString().describe('e.g. postgresql, redis, s3'),
    config: configObject,
    description: textString(2000).nullable().optional(),
    enabled: z.boolean().optional().describe('@default true'),
    health_check_interval_s: z.number().int().min(0).optional().describe('seconds between scheduled checks; 0 = off; @default 300'),
  }),
);

const updateConnectorFields = z.strictObject({
  name: nameString(200).optional(),
  description: textString(2000).nullable().optional(),
  enabled: z.boolean().optional(),
  health_check_interval_s: z.number().int().min(0).optional(),
  config: z
    .record(z.string(), z.unknown())
    .optional()
    .describe('Merged key by key: send only what changes; "********" keeps a stored secret; null removes an optional field'),
});

/** Validated as above (the service checks the merged config); documented with the fields of every provider's config. */
export const updateConnectorBody = documentedAs(
  updateConnectorFields,
  updateConnectorFields.extend({
    config: z
      .union(listProviders().map(configChangesOf))
      .optional()
      .describe(`${updateConnectorFields.shape.config.description}; the fields are those of the connector's provider`),
  }),
);

export const connectorSchema = z.object({
  id: z.string(),
  organization_id: z.string(),
  name: z.string(),
  description: z.string().nullable(),
  connector_type: z.string(),
  provider: z.string(),
  config: z.record(z.string(), z.unknown()).nullable().describe('Every secret replaced by "********"'),
  config_error: z.string().optional(),
  status: connectorStatusEnum,
  enabled: z.boolean(),
  health_check_interval_s: z.number().int(),
  last_tested_at: z.string().nullable(),
  last_test_result: z.enum(['success', 'failure']).nullable(),
  last_error: z.string().nullable(),
  version: z.number().int(),
  created_by: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
  managed_by: managedBySchema,
});

export const listConnectorsQuery = z.strictObject({
  connector_type: z.string().optional(),
  provider: z.string().optional(),
  status: connectorStatusEnum.optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional(),
});

export const testResultSchema = z.object({
  success: z.boolean(),
  message: z.string(),
  latency_ms: z.number().int(),
  error_code: z.string().optional(),
});

export const testUnsavedBody = perProvider(
  z.strictObject({
    connector_type: plainString(),
    provider: plainString(),
    config: configObject,
  }),
);

export const healthQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  cursor: z.string().optional(),
});

const windowSummary = z.object({
  uptime_percent: z.number().nullable().describe('Successful checks out of all, in percent; null without checks'),
  p50_ms: z.number().int().nullable().describe('Median latency of the successful checks; null without one'),
  p95_ms: z.number().int().nullable().describe('95th percentile latency of the successful checks; null without one'),
  checks: z.number().int(),
});

export const healthSchema = z.object({
  summary: z
    .object({ '1h': windowSummary, '24h': windowSummary, '7d': windowSummary })
    .describe('Over scheduled and manual checks, up to now'),
  data: z.array(
    z.object({
      checked_at: z.string(),
      success: z.boolean(),
      latency_ms: z.number().int(),
      error_code: z.string().nullable(),
      message: z.string().nullable(),
      source: z.enum(['manual', 'scheduled']),
    }),
  ),
  next_cursor: z.string().nullable(),
});

export const fieldSchema = z.object({
  name: z.string(),
  type: z.string(),
  required: z.boolean(),
  secret: z.boolean(),
  overridable: z.boolean(),
  default: z.unknown(),
  description: z.string().optional(),
  // How a form presents the field (providers/catalogue.ts).
  label: z.string(),
  enum: z.array(z.string()).optional(),
  format: z.enum(['hostname', 'uri', 'pem', 'json']).optional(),
  multiline: z.boolean(),
  group: z.enum(['Connection', 'Authentication', 'TLS', 'Advanced']),
  order: z.number().int(),
  visible_when: z.record(z.string(), z.array(z.unknown())).optional().describe('Shown only while each named field holds one of the values'),
});

export const typesSchema = z.object({
  data: z.array(
    z.object({
      type: z.string(),
      providers: z.array(z.object({ provider: z.string(), description: z.string(), operations: z.array(z.string()), fields: z.array(fieldSchema) })),
    }),
  ),
});

export const attachBody = z.strictObject({
  agent_id: plainString().describe('The agent\'s public id, e.g. agent-123'),
  alias: aliasSchema,
  config_override: z.record(z.string(), z.unknown()).nullable().optional().describe('Only the provider\'s overridable fields'),
  mode: modeSchema.optional().describe('@default read; read_write needs an admin'),
  limits: limitsSchema.optional(),
});

export const patchInstanceBody = z.strictObject({
  alias: aliasSchema.optional(),
  config_override: z.record(z.string(), z.unknown()).nullable().optional(),
  mode: modeSchema.optional(),
  limits: limitsSchema.optional(),
  bound_params: storableJsonObject().nullable().optional().describe('Admin only: parameter values bound on every call, hidden from the agent'),
});

export const instanceSchema = z.object({
  id: z.string(),
  connector_id: z.string(),
  agent_id: z.string(),
  alias: z.string(),
  config_override: z.record(z.string(), z.unknown()),
  mode: modeSchema,
  limits: z.record(z.string(), z.unknown()),
  effective_limits: z.object({
    max_rows: z.number().int(),
    timeout_ms: z.number().int(),
    max_bytes: z.number().int(),
    rate_per_minute: z.number().int().nullable(),
  }),
  bound_params: z.array(z.string()).describe('Names of the parameters an admin fixed (values hidden)'),
  connector: z.object({
    id: z.string(),
    name: z.string(),
    connector_type: z.string(),
    provider: z.string(),
    status: connectorStatusEnum,
    enabled: z.boolean(),
  }),
  status: connectorStatusEnum,
  config: z.record(z.string(), z.unknown()).nullable(),
  valid: z
    .boolean()
    .describe("Whether calls through it may run: false when its override is no longer inside the connector's boundaries (they answer scope_denied)"),
  reason: z.string().nullable().describe('Why it is not valid; null when it is'),
  created_at: z.string(),
  updated_at: z.string(),
  managed_by: managedBySchema,
});

export const executeBody = z
  .record(z.string(), z.unknown())
  .describe('`operation` (or the provider\'s default) plus that operation\'s fields, e.g. {"query": "SELECT …", "params": {…}}');

export const executeResultSchema = z.object({
  ok: z.literal(true),
  data: z.unknown(),
  latency_ms: z.number().int(),
  truncated: z.boolean(),
});
