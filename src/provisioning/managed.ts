import type { ManagedBy } from '../db/models/index.js';
import { PatchbayError } from '../errors.js';

/**
 * Resources a provisioning file owns carry `managed_by: "file"`. The API refuses to change or delete them, so a
 * hand edit cannot silently drift from the file that the next apply would restore, unless the request opts in.
 */

/** `true`: this request may change or delete a managed resource (it stays managed: the next apply restores it). */
export const OVERRIDE_MANAGED_HEADER = 'x-patchbay-override-managed';

export interface ManagedOptions {
  /** The caller opted in to changing managed resources. */
  overrideManaged?: boolean;
  /** Set by `patchbay apply` only: what it creates or changes is marked managed (implies the override). */
  managedBy?: 'file';
}

/** The request's opt-in, from its header; a value other than true or false is a 400. */
export function managedOptionsFrom(headers: Record<string, string | string[] | undefined>): ManagedOptions {
  const override = headers[OVERRIDE_MANAGED_HEADER];
  if (override !== undefined && override !== 'true' && override !== 'false') {
    throw new PatchbayError('bad_request', 'X-Patchbay-Override-Managed must be true or false');
  }
  return override === 'true' ? { overrideManaged: true } : {};
}

/** 409 `conflict` when `resource` is managed and the request did not opt in. */
export function assertUnmanaged(resource: { managed_by?: ManagedBy }, what: string, options: ManagedOptions | undefined): void {
  if (!resource.managed_by || options?.overrideManaged || options?.managedBy) return;
  throw new PatchbayError(
    'conflict',
    `${what} is managed by a provisioning file (managed_by: "${resource.managed_by}"): change the file and apply it, or send X-Patchbay-Override-Managed: true`,
  );
}

/** The `managed_by` a write stores: the apply's mark, else unchanged (undefined). */
export const managedMark = (options: ManagedOptions | undefined): { managed_by?: 'file' } => (options?.managedBy ? { managed_by: options.managedBy } : {});
