import { readdirSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Services } from '../services/index.js';
import { desiredState } from './desired.js';
import { locateError, ProvisioningFileError, readProvisioningFile, type ReadFile } from './file.js';

/** The files `patchbay serve` applies from PATCHBAY_PROVISIONING_DIR: YAML and JSON, in name order. */
export function provisioningFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (error) {
    throw new ProvisioningFileError(dir, undefined, undefined, `PATCHBAY_PROVISIONING_DIR cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return names
    .filter((name) => /\.(ya?ml|json)$/i.test(name))
    .sort()
    .map((name) => path.join(dir, name));
}

/**
 * Applies every file of the folder before the server listens, each in its own transaction under the migration
 * lock, so processes starting together apply a file once (the later ones find nothing to change). Never prunes:
 * deleting is left to an explicit `patchbay apply --prune`. The first bad file stops start-up with one line
 * naming file, line and field.
 */
export async function applyProvisioningDir(
  dir: string,
  services: Pick<Services, 'provisioning'>,
  options: { env: Readonly<Record<string, string | undefined>>; log: Logger },
): Promise<void> {
  for (const file of provisioningFiles(dir)) {
    let read: ReadFile | undefined;
    try {
      read = readProvisioningFile(file, { env: options.env });
      const result = await services.provisioning.apply({ actor: { type: 'system', id: null }, role: 'admin' }, desiredState(read.document), { prune: false });
      options.log.info({ file, organization: result.organization, changes: result.changes.length }, 'provisioning file applied');
    } catch (error) {
      throw locateError(error, read);
    }
  }
}
