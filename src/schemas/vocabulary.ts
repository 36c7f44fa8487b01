import { z } from 'zod';

/**
 * The field vocabulary that request bodies, services and provisioning files share. It imports zod and nothing of
 * Patchbay's at run time, so any layer may use it (the providers' scrubber takes MASK from here).
 */

/** What a response shows in place of every secret value, and what a scrubbed text holds where a secret was. */
export const MASK = '********';

export const connectorTypes = ['database', 'api', 'storage', 'messaging'] as const;

/** A connector's family: what its provider is (`Provider.type`). */
export type ConnectorType = (typeof connectorTypes)[number];

/** The client-chosen public id of an agent (DESIGN.md section 5). */
export const agentIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, dot, dash and underscore, up to 64, starting with a letter or digit');

/** An attachment's name for its connector, the first half of its tools' names (`{alias}__{operation}`). */
export const aliasSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,39}$/, 'lower-case letter, then letters, digits or underscores, up to 40')
  .refine((alias) => !alias.includes('__'), 'must not contain "__" (it separates alias and operation in tool names)');

export const modeSchema = z.enum(['read', 'read_write']);

/** The global defaults of DESIGN.md section 7; raising any of them on an attachment needs an admin. */
export const DEFAULT_LIMITS = { max_rows: 1_000, timeout_ms: 10_000, max_bytes: 1_048_576 } as const;

export const limitsSchema = z.strictObject({
  max_rows: z.number().int().min(1).max(1_000_000).optional().describe(`@default ${DEFAULT_LIMITS.max_rows}`),
  timeout_ms: z.number().int().min(100).max(600_000).optional().describe(`@default ${DEFAULT_LIMITS.timeout_ms}`),
  max_bytes: z.number().int().min(1024).max(104_857_600).optional().describe(`@default ${DEFAULT_LIMITS.max_bytes}`),
  rate_per_minute: z.number().int().min(1).max(1_000_000).optional().describe('calls per minute for this attachment; none by default'),
});
export type AttachmentLimits = z.infer<typeof limitsSchema>;
