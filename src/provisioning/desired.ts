import { z } from 'zod';
import { validationError, type FieldError } from '../errors.js';
import { fieldErrors, getProvider, parseConfig, providerIds } from '../providers/registry.js';
import type { Provider } from '../providers/types.js';
import { createAgentBody } from '../schemas/agents.js';
import { createConnectorBody } from '../schemas/connectors.js';
import { createWebhookBody } from '../schemas/webhooks.js';
import { agentIdSchema, aliasSchema, limitsSchema, modeSchema } from '../schemas/vocabulary.js';

/**
 * The provisioning file, references resolved, as the API's own schemas see it: every field below is the API's
 * (src/schemas, its vocabulary of alias, mode and limits, the provider's config schema), so a file is valid exactly
 * when the API calls it would make are. The JSON Schema for editors (json-schema.ts) is built from the same parts.
 */

const jsonObject = z.record(z.string(), z.unknown());

export const fileParts = {
  organization: z.string().min(1).describe('The organization (slug or id) this file declares; it must exist'),
  connector: {
    name: createConnectorBody.shape.name.describe('Unique in the organization; attachments name their connector by it'),
    provider: z.enum(providerIds as [string, ...string[]]).describe('The provider id (GET /api/v1/connectors/types); it decides connector_type'),
    description: createConnectorBody.shape.description,
    enabled: createConnectorBody.shape.enabled,
    health_check_interval_s: createConnectorBody.shape.health_check_interval_s,
  },
  agent: {
    id: agentIdSchema.describe('The public agent id, e.g. support-bot'),
    name: createAgentBody.shape.name,
    description: createAgentBody.shape.description,
  },
  attachment: {
    agent: agentIdSchema.describe('The agent id'),
    alias: aliasSchema,
    connector: createConnectorBody.shape.name.describe('The connector, by name'),
    mode: modeSchema.optional().describe('@default read'),
    config_override: jsonObject.optional().describe("Only the provider's overridable fields"),
    limits: limitsSchema.optional(),
    bound_params: jsonObject.optional().describe('Parameter values bound on every call, hidden from the agent'),
  },
  webhook: {
    url: createWebhookBody.shape.url,
    events: createWebhookBody.shape.events,
    enabled: createWebhookBody.shape.enabled,
    description: createWebhookBody.shape.description,
  },
} as const;

/** The file once its references are resolved (the body of POST /api/v1/provisioning/plan|apply). */
export const resolvedFileSchema = z.strictObject({
  $schema: z.string().optional().describe('Ignored: lets editors find patchbay.schema.json'),
  organization: fileParts.organization,
  connectors: z.array(z.strictObject({ ...fileParts.connector, config: jsonObject.default({}) })).default([]),
  agents: z.array(z.strictObject(fileParts.agent)).default([]),
  attachments: z.array(z.strictObject(fileParts.attachment)).default([]),
  webhooks: z.array(z.strictObject({ ...fileParts.webhook, secret: createWebhookBody.shape.secret })).default([]),
});
export type ResolvedFile = z.input<typeof resolvedFileSchema>;

export interface DesiredConnector {
  at: string;
  name: string;
  provider: Provider;
  /** Parsed by the provider's schema: defaults filled in, as the API stores it. */
  config: Record<string, unknown>;
  description: string | null;
  enabled: boolean;
  health_check_interval_s: number;
}

export interface DesiredAgent {
  at: string;
  id: string;
  name: string | null;
  description: string | null;
}

export interface DesiredAttachment {
  at: string;
  agent: string;
  alias: string;
  connector: string;
  mode: 'read' | 'read_write';
  config_override: Record<string, unknown> | null;
  limits: Record<string, number>;
  bound_params: Record<string, unknown> | null;
}

export interface DesiredWebhook {
  at: string;
  url: string;
  events: string[];
  secret: string;
  enabled: boolean;
  description: string | null;
}

export interface DesiredState {
  organization: string;
  connectors: DesiredConnector[];
  agents: DesiredAgent[];
  attachments: DesiredAttachment[];
  webhooks: DesiredWebhook[];
}

/** An empty object and an absent one mean the same to the API; one spelling keeps the comparison honest. */
export const emptyToNull = (value: Record<string, unknown> | null | undefined): Record<string, unknown> | null =>
  value && Object.keys(value).length > 0 ? value : null;

/**
 * The desired state of one organization, or a 422 `validation_failed` whose error paths point into the file
 * (`connectors[1].config.port`), so the CLI can name the line.
 */
export function desiredState(input: unknown): DesiredState {
  const parsed = resolvedFileSchema.safeParse(input);
  if (!parsed.success) throw validationError(fieldErrors(parsed.error, '').map(toFilePath));
  const file = parsed.data;
  const errors: FieldError[] = [];
  const duplicate = (seen: Set<string>, key: string, at: string, what: string) => {
    if (seen.has(key)) errors.push({ path: at, message: `${what} appears twice in the file` });
    seen.add(key);
  };

  const names = new Set<string>();
  const connectors: DesiredConnector[] = [];
  file.connectors.forEach((entry, index) => {
    const at = `connectors[${index}]`;
    duplicate(names, entry.name, `${at}.name`, `connector "${entry.name}"`);
    const provider = getProvider(entry.provider) as Provider;
    const config = parseConfig(provider, entry.config);
    if (!config.success) {
      errors.push(...config.errors.map((e) => ({ ...e, path: `${at}.${e.path}` })));
      return;
    }
    connectors.push({
      at,
      name: entry.name,
      provider,
      config: config.data,
      description: entry.description ?? null,
      enabled: entry.enabled ?? true,
      health_check_interval_s: entry.health_check_interval_s ?? 300,
    });
  });

  const agentIds = new Set<string>();
  const agents = file.agents.map((entry, index): DesiredAgent => {
    const at = `agents[${index}]`;
    duplicate(agentIds, entry.id, `${at}.id`, `agent ${entry.id}`);
    return { at, id: entry.id, name: entry.name ?? null, description: entry.description ?? null };
  });

  const aliases = new Set<string>();
  const attachments = file.attachments.map((entry, index): DesiredAttachment => {
    const at = `attachments[${index}]`;
    duplicate(aliases, `${entry.agent}\n${entry.alias}`, `${at}.alias`, `alias ${entry.alias} of agent ${entry.agent}`);
    return {
      at,
      agent: entry.agent,
      alias: entry.alias,
      connector: entry.connector,
      mode: entry.mode ?? 'read',
      config_override: emptyToNull(entry.config_override),
      limits: (entry.limits ?? {}) as Record<string, number>,
      bound_params: emptyToNull(entry.bound_params),
    };
  });

  const urls = new Set<string>();
  const webhooks = file.webhooks.map((entry, index): DesiredWebhook => {
    const at = `webhooks[${index}]`;
    duplicate(urls, entry.url, `${at}.url`, `webhook ${entry.url}`);
    return {
      at,
      url: entry.url,
      events: [...new Set(entry.events)].sort(),
      secret: entry.secret,
      enabled: entry.enabled ?? true,
      description: entry.description ?? null,
    };
  });

  if (errors.length > 0) throw validationError(errors);
  return { organization: file.organization, connectors, agents, attachments, webhooks };
}

/** zod's `connectors.1.config` as the file's `connectors[1].config`. */
const toFilePath = (error: FieldError): FieldError => ({ ...error, path: error.path.replace(/\.(\d+)(?=\.|$)/g, '[$1]') });
