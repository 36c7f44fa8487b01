import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PatchbayError } from '../errors.js';
import { decodeKey, decrypt, encrypt, FernetError, generateKey, keyId } from './fernet.js';

/**
 * The encryption keys of PATCHBAY_ENCRYPTION_KEYS: the first (primary) seals, every one opens, so an operator
 * rotates by putting a new key first, running `patchbay reencrypt`, then dropping the old one.
 *
 * A sealed token is a standard Fernet token whose plaintext is a small JSON envelope naming the row it belongs
 * to. Any Fernet implementation with the key can read it; Patchbay also checks the envelope on every open, so a
 * token copied into another connector's or organisation's row is refused instead of handing over its secrets.
 */

export type SealBinding =
  | { organization_id: string; connector_id: string }
  | { organization_id: string; webhook_id: string };

const ENVELOPE_VERSION = 1;

/** A key list that cannot become a ring; the message names a position or a file, never a key. */
export class KeyRingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KeyRingError';
  }
}

/**
 * Why a sealed value could not be opened. Still an internal_error to the API; callers that report rather than
 * throw (a connection test, `encryption-keys status`) can tell it apart from other failures.
 * - unknown_key: no key in the ring opens the token
 * - damaged: the token is malformed, or its signature fails under the key that made it
 * - wrong_row: the token is intact but was sealed for another organisation, connector or webhook
 */
export type DecryptionFailure = 'unknown_key' | 'damaged' | 'wrong_row';

export class DecryptionError extends PatchbayError {
  readonly reason: DecryptionFailure;

  constructor(reason: DecryptionFailure, detail: string, cause?: unknown) {
    super('internal_error', detail, { cause });
    this.name = 'DecryptionError';
    this.reason = reason;
  }
}

interface RingKey {
  id: string;
  bytes: Buffer;
}

export class KeyRing {
  private loaded: readonly RingKey[] | undefined;

  private constructor(private readonly load: () => readonly RingKey[]) {}

  /** Keys in the order configured, primary first; a key listed twice is kept once, at its first position. */
  static fromKeys(keys: string[]): KeyRing {
    if (keys.length === 0) throw new KeyRingError('PATCHBAY_ENCRYPTION_KEYS: must hold at least one key');
    const ring = new Map<string, RingKey>();
    keys.forEach((key, index) => {
      let bytes: Buffer;
      try {
        bytes = decodeKey(key);
      } catch {
        throw new KeyRingError(
          `PATCHBAY_ENCRYPTION_KEYS: key ${index + 1} is not a valid Fernet key (32 url-safe base64 bytes)`,
        );
      }
      const id = keyId(bytes);
      if (!ring.has(id)) ring.set(id, { id, bytes });
    });
    const ringKeys = [...ring.values()];
    return new KeyRing(() => ringKeys);
  }

  /**
   * A ring read on first use: for a command that builds every service but may need no key at all (creating an
   * organisation), and must then neither require PATCHBAY_ENCRYPTION_KEYS nor write a development key file.
   */
  static deferred(read: () => KeyRing): KeyRing {
    return new KeyRing(() => read().keys);
  }

  private get keys(): readonly RingKey[] {
    this.loaded ??= this.load();
    return this.loaded;
  }

  get primaryKeyId(): string {
    return this.primary.id;
  }

  get keyIds(): string[] {
    return this.keys.map((key) => key.id);
  }

  has(id: string): boolean {
    return this.keys.some((key) => key.id === id);
  }

  /** True for a row sealed under a retired key: `patchbay reencrypt` should seal it again under the primary. */
  needsReencrypt(id: string): boolean {
    return id !== this.primary.id;
  }

  /** Seals `value` (any JSON value) for one row under the primary key; store both the token and key_id. */
  seal(binding: SealBinding, value: unknown): { token: string; key_id: string } {
    // JSON drops an undefined config, and the envelope would then never open again.
    if (value === undefined) throw new PatchbayError('internal_error', `cannot seal nothing for ${rowName(binding)}`);
    const { organization_id } = binding;
    const envelope =
      'connector_id' in binding
        ? { v: ENVELOPE_VERSION, organization_id, connector_id: binding.connector_id, config: value }
        : { v: ENVELOPE_VERSION, organization_id, webhook_id: binding.webhook_id, config: value };
    return { token: encrypt(this.primary.bytes, JSON.stringify(envelope)), key_id: this.primary.id };
  }

  /**
   * Opens a token sealed for `binding` and returns its value. `keyId` is the row's key_id: that key is tried
   * first, then the rest, so a row whose key_id is stale still opens. Throws DecryptionError.
   */
  open(binding: SealBinding, token: string, keyId?: string): unknown {
    const row = rowName(binding);
    const hinted = keyId === undefined ? undefined : this.keys.find((key) => key.id === keyId);
    const order = hinted ? [hinted, ...this.keys.filter((key) => key !== hinted)] : this.keys;

    for (const key of order) {
      let plaintext: Buffer;
      try {
        plaintext = decrypt(key.bytes, token);
      } catch (error) {
        // A wrong key fails only the signature; any other failure is the token's own, whichever key reads it.
        if (error instanceof FernetError && error.reason === 'bad_signature') continue;
        const detail = error instanceof FernetError ? error.message : 'unreadable token';
        const message = `cannot decrypt ${row}${keyNote(keyId)}: token damaged (${detail})`;
        throw new DecryptionError('damaged', message, error);
      }
      return openEnvelope(binding, plaintext, `${row}${keyNote(key.id)}`);
    }

    if (hinted) {
      throw new DecryptionError(
        'damaged',
        `cannot decrypt ${row}${keyNote(hinted.id)}: token damaged ` +
          '(that key is in the ring but the signature does not match)',
      );
    }
    const likely =
      keyId === undefined
        ? 'sealed under a key not in PATCHBAY_ENCRYPTION_KEYS, or damaged'
        : `key id ${keyId} not in PATCHBAY_ENCRYPTION_KEYS?`;
    throw new DecryptionError(
      'unknown_key',
      `cannot decrypt ${row}: no key in the ring can open it (${likely}; the ring holds ${this.keyIds.join(', ')})`,
    );
  }

  private get primary(): RingKey {
    // fromKeys refuses an empty list, so the ring always has a first key.
    return this.keys[0]!;
  }
}

function rowName(binding: SealBinding): string {
  return 'connector_id' in binding ? `connector ${binding.connector_id}` : `webhook ${binding.webhook_id}`;
}

function keyNote(keyId: string | undefined): string {
  return keyId === undefined ? '' : ` (key id ${keyId})`;
}

function openEnvelope(binding: SealBinding, plaintext: Buffer, where: string): unknown {
  let envelope: unknown;
  try {
    envelope = JSON.parse(plaintext.toString('utf8'));
  } catch {
    // The parser's message would quote the plaintext, so it is neither kept nor chained.
    throw new DecryptionError('damaged', `cannot decrypt ${where}: token damaged (not a Patchbay envelope)`);
  }
  if (
    typeof envelope !== 'object' ||
    envelope === null ||
    !('v' in envelope) ||
    envelope.v !== ENVELOPE_VERSION ||
    !('config' in envelope)
  ) {
    throw new DecryptionError('damaged', `cannot decrypt ${where}: token damaged (not a Patchbay envelope)`);
  }
  const sealedFor = envelope as { organization_id?: unknown; connector_id?: unknown; webhook_id?: unknown };
  const matches =
    sealedFor.organization_id === binding.organization_id &&
    ('connector_id' in binding
      ? sealedFor.connector_id === binding.connector_id && sealedFor.webhook_id === undefined
      : sealedFor.webhook_id === binding.webhook_id && sealedFor.connector_id === undefined);
  if (!matches) {
    throw new DecryptionError(
      'wrong_row',
      `cannot decrypt ${where}: token belongs to another row ` +
        '(sealed for a different organisation, connector or webhook)',
    );
  }
  return envelope.config;
}

const DEV_KEY_FILE_HEADER =
  '# Patchbay development encryption key, generated because PATCHBAY_ENCRYPTION_KEYS is unset.\n' +
  '# Losing this file makes every stored secret unreadable. One key per line; the first encrypts.\n';

/**
 * The embedded default's key file (dev-encryption.key beside the SQLite file): read it when present, else
 * generate one key into it, readable by the owner only. `created` tells the caller to print its warning.
 */
export function generateDevKeyFile(file: string): { created: boolean; keys: string[] } {
  const existing = readKeyFile(file);
  if (existing) return { created: false, keys: existing };

  const key = generateKey();
  mkdirSync(path.dirname(file), { recursive: true });
  try {
    // 'wx' never overwrites: if another process created the file meanwhile, its key is the one to use.
    writeFileSync(file, `${DEV_KEY_FILE_HEADER}${key}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    return generateDevKeyFile(file);
  }
  return { created: true, keys: [key] };
}

function readKeyFile(file: string): string[] | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const lines = text.split('\n').map((line) => line.trim());
  const keys: string[] = [];
  lines.forEach((line, index) => {
    if (line === '' || line.startsWith('#')) return;
    try {
      decodeKey(line);
    } catch {
      throw new KeyRingError(`${file}: line ${index + 1} is not a valid Fernet key (32 url-safe base64 bytes)`);
    }
    keys.push(line);
  });
  if (keys.length === 0) throw new KeyRingError(`${file}: holds no key`);
  return keys;
}
