import { z } from 'zod';
import { describeFields, listProviders } from '../providers/registry.js';
import type { Provider } from '../providers/types.js';
import { fileParts } from './desired.js';

/**
 * `patchbay schema`: the JSON Schema of a provisioning file as people write it (with references), built from the
 * same zod parts the API validates with and from each provider's config schema, so editors complete and check a
 * file exactly as apply will.
 */

const reference = z
  .string()
  .regex(/^\$\{(env|file):[^}]+\}$/)
  .describe('A reference resolved where the file is read: ${env:NAME} (an environment variable) or ${file:path} (a file, relative to this one)');

/** A provider's config: each field as the API takes it, or a reference; a secret only as references. */
function fileConfigSchema(provider: Provider): z.ZodType {
  const fields = new Map(describeFields(provider).map((field) => [field.name, field]));
  const shape: Record<string, z.ZodType> = {};
  for (const [name, schema] of Object.entries(provider.config.shape)) {
    const field = fields.get(name);
    const secretForm = field?.type === 'object' ? z.record(z.string(), reference) : reference;
    const accepted = field?.secret ? secretForm.describe(`Secret: a reference, never a literal. ${field.description ?? ''}`.trim()) : z.union([schema as z.ZodType, reference]);
    shape[name] = field?.required ? accepted : accepted.optional();
  }
  return z.strictObject(shape);
}

export function provisioningJsonSchema(): Record<string, unknown> {
  const { provider: _provider, ...connectorFields } = fileParts.connector;
  const connector = z.union(
    listProviders().map((provider) =>
      z.strictObject({ ...connectorFields, provider: z.literal(provider.id), config: fileConfigSchema(provider).optional() }),
    ),
  );
  const file = z.strictObject({
    $schema: z.string().optional(),
    organization: fileParts.organization,
    connectors: z.array(connector).optional(),
    agents: z.array(z.strictObject(fileParts.agent)).optional(),
    attachments: z.array(z.strictObject(fileParts.attachment)).optional(),
    webhooks: z.array(z.strictObject({ ...fileParts.webhook, secret: reference })).optional(),
  });
  return {
    title: 'Patchbay provisioning file (patchbay.yaml)',
    ...z.toJSONSchema(file, { io: 'input', unrepresentable: 'any', target: 'draft-2020-12' }),
  };
}
