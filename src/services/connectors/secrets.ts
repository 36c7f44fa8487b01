import { createHash, randomBytes } from 'node:crypto';

/**
 * API keys and agent tokens: 32 random bytes, shown once, stored only as SHA-256. A fast hash is right here:
 * the input has 256 bits of entropy, so there is nothing for a slow password hash to protect, and every
 * request checks one.
 */
export interface IssuedSecret {
  value: string;
  prefix: string;
  hash: string;
}

const PREFIX_LENGTH = 12;

/** API keys, agent tokens, and the one-time tokens of membership invitations. */
export type SecretKind = 'pbk' | 'pbt' | 'pbi';

export const hashSecret = (value: string): string => createHash('sha256').update(value, 'utf8').digest('hex');

export function issueSecret(kind: SecretKind): IssuedSecret {
  const value = `${kind}_${randomBytes(32).toString('base64url')}`;
  return { value, prefix: value.slice(0, PREFIX_LENGTH), hash: hashSecret(value) };
}

/** What a response shows of an API key or agent token: never its value nor its hash, only the prefix. */
export interface CredentialView {
  id: string;
  name: string | null;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export const credentialView = (credential: {
  id: string;
  name: string | null;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
  expires_at: Date | null;
  revoked_at: Date | null;
}): CredentialView => ({
  id: credential.id,
  name: credential.name,
  prefix: credential.prefix,
  created_at: credential.created_at.toISOString(),
  last_used_at: credential.last_used_at?.toISOString() ?? null,
  expires_at: credential.expires_at?.toISOString() ?? null,
  revoked_at: credential.revoked_at?.toISOString() ?? null,
});

/** Cheap shape check before any lookup, so a malformed header never reaches the database. */
export const looksLikeSecret = (value: string, kind: SecretKind): boolean =>
  new RegExp(`^${kind}_[A-Za-z0-9_-]{43}$`).test(value);

/** Don't write last_used_at on every request: once a minute is precise enough and saves a write per call. */
export const LAST_USED_RESOLUTION_MS = 60_000;
