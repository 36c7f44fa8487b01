import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The Fernet token format (https://github.com/fernet/spec), on node:crypto alone, so that any other Fernet
 * implementation holding the key (Python's `cryptography`, for one) can open what Patchbay stores.
 *
 * Token: base64url(version 0x80 | timestamp u64 BE seconds | IV 16 | AES-128-CBC ciphertext | HMAC-SHA256 32).
 * Key: base64url(signing key 16 | encryption key 16).
 */

const VERSION = 0x80;
const KEY_BYTES = 32;
const IV_BYTES = 16;
const BLOCK_BYTES = 16;
const HMAC_BYTES = 32;
const HEADER_BYTES = 1 + 8 + IV_BYTES;
/** The spec's (and Python's) tolerance for a token stamped by a clock running ahead of ours. */
const MAX_CLOCK_SKEW_S = 60;

export type FernetErrorReason = 'invalid_key' | 'invalid_token' | 'bad_signature' | 'expired' | 'future_timestamp';

/** Every message is a fixed sentence: none ever quotes a key, a token or a plaintext. */
export class FernetError extends Error {
  readonly reason: FernetErrorReason;

  constructor(reason: FernetErrorReason, message: string) {
    super(message);
    this.name = 'FernetError';
    this.reason = reason;
  }
}

export interface EncryptOptions {
  /** The token's timestamp. @default new Date() */
  now?: Date;
  /** 16 bytes; a fixed IV exists only to reproduce the spec's test vectors. @default 16 random bytes */
  iv?: Buffer;
}

export interface DecryptOptions {
  /** Maximum token age; when absent, neither age nor clock skew is checked. @default undefined */
  ttlSeconds?: number;
  /** The verifier's clock, for the ttl check. @default new Date() */
  now?: Date;
}

// Padded base64url only, as the spec's tokens and keys are written: a stray character, a standard-alphabet
// '+' or '/', a missing pad or text after it makes the whole value invalid rather than silently skipped.
const PADDED_BASE64URL = /^(?:[A-Za-z0-9_-]{4})*(?:[A-Za-z0-9_-]{2}==|[A-Za-z0-9_-]{3}=)?$/;

function decodeBase64Url(value: string): Buffer | undefined {
  if (!PADDED_BASE64URL.test(value)) return undefined;
  const bytes = Buffer.from(value, 'base64url');
  // Non-zero bits in the last character's unused tail would give two spellings of one token.
  return encodeBase64Url(bytes) === value ? bytes : undefined;
}

function encodeBase64Url(bytes: Buffer): string {
  const unpadded = bytes.toString('base64url');
  return unpadded.padEnd(Math.ceil(unpadded.length / 4) * 4, '=');
}

/** A new random key, in the spec's text form (44 characters). */
export function generateKey(): string {
  return encodeBase64Url(randomBytes(KEY_BYTES));
}

/** The 32 key bytes from the text form; throws FernetError('invalid_key') unless it is padded base64url of 32 bytes. */
export function decodeKey(key: string): Buffer {
  const bytes = decodeBase64Url(key);
  if (!bytes || bytes.length !== KEY_BYTES) {
    throw new FernetError('invalid_key', 'a Fernet key must be 32 bytes in url-safe base64 with padding');
  }
  return bytes;
}

function keyBytes(key: string | Buffer): Buffer {
  if (typeof key === 'string') return decodeKey(key);
  if (key.length !== KEY_BYTES) throw new FernetError('invalid_key', 'a Fernet key must be 32 bytes');
  return key;
}

/** First 8 hex digits of SHA-256 of the 32 key bytes: names a key in rows and messages without revealing it. */
export function keyId(key: string | Buffer): string {
  return createHash('sha256').update(keyBytes(key)).digest('hex').slice(0, 8);
}

function sign(signingKey: Buffer, signed: Buffer): Buffer {
  return createHmac('sha256', signingKey).update(signed).digest();
}

export function encrypt(key: string | Buffer, plaintext: string | Buffer, options: EncryptOptions = {}): string {
  const bytes = keyBytes(key);
  const iv = options.iv ?? randomBytes(IV_BYTES);
  if (iv.length !== IV_BYTES) throw new RangeError('a Fernet IV must be 16 bytes');
  const timestamp = Math.floor((options.now ?? new Date()).getTime() / 1000);

  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt8(VERSION, 0);
  header.writeBigUInt64BE(BigInt(timestamp), 1);
  iv.copy(header, 9);

  // Node's default PKCS#7 padding is the padding the spec prescribes (RFC 5652 section 6.3).
  const cipher = createCipheriv('aes-128-cbc', bytes.subarray(16), iv);
  const message = typeof plaintext === 'string' ? Buffer.from(plaintext, 'utf8') : plaintext;
  const signed = Buffer.concat([header, cipher.update(message), cipher.final()]);
  return encodeBase64Url(Buffer.concat([signed, sign(bytes.subarray(0, 16), signed)]));
}

export function decrypt(key: string | Buffer, token: string, options: DecryptOptions = {}): Buffer {
  const bytes = keyBytes(key);
  const data = decodeBase64Url(token);
  if (!data) throw new FernetError('invalid_token', 'the Fernet token is not url-safe base64');
  const ciphertextBytes = data.length - HEADER_BYTES - HMAC_BYTES;
  if (ciphertextBytes < BLOCK_BYTES || ciphertextBytes % BLOCK_BYTES !== 0) {
    throw new FernetError('invalid_token', 'the Fernet token has an impossible length');
  }
  if (data[0] !== VERSION) throw new FernetError('invalid_token', 'the Fernet token has an unsupported version');

  // The signature is checked before anything else is believed, so a forged token learns nothing from a
  // padding or timestamp failure, and only an authentic token can be reported as expired.
  const signed = data.subarray(0, data.length - HMAC_BYTES);
  if (!timingSafeEqual(sign(bytes.subarray(0, 16), signed), data.subarray(data.length - HMAC_BYTES))) {
    throw new FernetError('bad_signature', 'the Fernet token was not signed with this key or was altered');
  }

  // As in Python's implementation, age and skew are checked only when a ttl is asked for: a stored config has
  // no lifetime, and a writer whose clock ran ahead must not lock its row until ours catches up.
  if (options.ttlSeconds !== undefined) {
    const timestamp = Number(data.readBigUInt64BE(1));
    const now = Math.floor((options.now ?? new Date()).getTime() / 1000);
    if (timestamp + options.ttlSeconds < now) throw new FernetError('expired', 'the Fernet token has expired');
    if (timestamp > now + MAX_CLOCK_SKEW_S) {
      throw new FernetError('future_timestamp', 'the Fernet token is stamped too far in the future');
    }
  }

  const decipher = createDecipheriv('aes-128-cbc', bytes.subarray(16), data.subarray(9, HEADER_BYTES));
  try {
    return Buffer.concat([decipher.update(signed.subarray(HEADER_BYTES)), decipher.final()]);
  } catch {
    // OpenSSL's own message is dropped on purpose: this sentence is the whole story and carries nothing secret.
    throw new FernetError('invalid_token', 'the Fernet token has invalid padding');
  }
}
