import { z } from 'zod';

export const provisioningBody = z.strictObject({
  file: z
    .record(z.string(), z.unknown())
    .describe('The provisioning file (docs/provisioning.md) with its ${env:…} and ${file:…} references already resolved by the client'),
  prune: z.boolean().optional().describe('Also delete what the organization holds and the file does not name; @default false'),
});

export const planLineSchema = z.object({
  action: z.enum(['create', 'update', 'delete']),
  type: z.enum(['connector', 'agent', 'attachment', 'webhook']),
  key: z.string().describe('Connector name, agent id, agent/alias, or webhook URL'),
  fields: z.array(z.string()).optional().describe('What an update changes, by name; a secret as "config.password (changed)", never a value'),
  reason: z.string().optional(),
});

export const planResultSchema = z.object({
  organization: z.string().describe('The organization slug'),
  changes: z.array(planLineSchema),
});

export const exportResultSchema = z.object({
  text: z.string().describe('The provisioning file (YAML); every secret is an ${env:…} reference'),
  variables: z.array(z.object({ name: z.string(), secret: z.string() })).describe('The environment variables the file refers to'),
});
