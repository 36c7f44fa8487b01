import path from 'node:path';
import { ConfigError, type Config } from '../config.js';
import { generateDevKeyFile, KeyRing } from './key-ring.js';

export interface LoadedKeyRing {
  ring: KeyRing;
  /** Set when the embedded default generated or reused a development key file. */
  devKeyFile?: string;
  devKeyCreated?: boolean;
}

export const DEV_KEY_FILE = 'dev-encryption.key';

/**
 * The key ring from PATCHBAY_ENCRYPTION_KEYS; on SQLite without it, a development key kept in
 * dev-encryption.key beside the database file. PostgreSQL (production) refuses to run without real keys.
 */
export function loadKeyRing(config: Pick<Config, 'encryptionKeys' | 'database'>): LoadedKeyRing {
  if (config.encryptionKeys) {
    try {
      return { ring: KeyRing.fromKeys(config.encryptionKeys) };
    } catch (error) {
      throw new ConfigError('PATCHBAY_ENCRYPTION_KEYS', error instanceof Error ? error.message.replace(/^PATCHBAY_ENCRYPTION_KEYS:\s*/, '') : 'invalid');
    }
  }
  if (config.database.dialect !== 'sqlite' || config.database.storage === ':memory:') {
    throw new ConfigError(
      'PATCHBAY_ENCRYPTION_KEYS',
      'is required with PostgreSQL: generate one with `patchbay encryption-keys generate`',
    );
  }
  const file = path.join(path.dirname(config.database.storage), DEV_KEY_FILE);
  const { created, keys } = generateDevKeyFile(file);
  return { ring: KeyRing.fromKeys(keys), devKeyFile: file, devKeyCreated: created };
}

export const devKeyWarning = (file: string) =>
  `WARNING: no PATCHBAY_ENCRYPTION_KEYS set: connector secrets are encrypted with a DEVELOPMENT key kept in ${file}. ` +
  'Anyone who can read that file can decrypt them. Set PATCHBAY_ENCRYPTION_KEYS (patchbay encryption-keys generate) before real use.';
