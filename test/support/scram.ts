import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The server side of SCRAM (RFC 5802; SCRAM-SHA-256 in RFC 7677, SCRAM-SHA-512 alike), for the wire-protocol
 * stubs: the MongoDB stub's saslStart/saslContinue and the Kafka stub's SaslAuthenticate carry these messages.
 * A stub keeps what a server keeps, never the password: salt, iteration count, StoredKey and ServerKey.
 */

export type ScramDigest = 'sha256' | 'sha512';

/** What a server stores for one user and one mechanism. */
export interface ScramCredential {
  digest: ScramDigest;
  salt: Buffer;
  iterations: number;
  storedKey: Buffer;
  serverKey: Buffer;
}

/** The smallest count RFC 7677 allows, and what Kafka and MongoDB use by default for SHA-256. */
const ITERATIONS = 4096;
const KEY_BYTES: Record<ScramDigest, number> = { sha256: 32, sha512: 64 };

/** Thrown for any message that does not authenticate: the stub answers its protocol's authentication error. */
export class ScramFailure extends Error {}

export function scramCredential(password: string, digest: ScramDigest): ScramCredential {
  const salt = randomBytes(16);
  const salted = pbkdf2Sync(password, salt, ITERATIONS, KEY_BYTES[digest], digest);
  const clientKey = hmac(digest, salted, 'Client Key');
  return {
    digest,
    salt,
    iterations: ITERATIONS,
    storedKey: createHash(digest).update(clientKey).digest(),
    serverKey: hmac(digest, salted, 'Server Key'),
  };
}

/**
 * One conversation: `first()` takes the client-first-message and answers the server-first-message; `final()`
 * takes the client-final-message, checks the proof and answers the server-final-message (`v=…`, which the
 * client checks in turn). Either throws ScramFailure: an unknown user, a malformed message, a nonce or channel
 * binding that does not match, a wrong proof (the wrong password).
 */
export class ScramConversation {
  /** The user name the client-first-message named, once first() has accepted it. */
  user?: string;
  private state?: { credential: ScramCredential; clientFirstBare: string; serverFirst: string; nonce: string; gs2: string };

  /** @param lookup the credential of a user name, undefined when there is no such user for this mechanism */
  constructor(private readonly lookup: (user: string) => ScramCredential | undefined) {}

  first(clientFirst: string): string {
    // gs2-header: no channel binding ('n' or 'y'), an optional authzid, then the bare message.
    const match = /^([ny]),(?:a=[^,]*)?,(n=([^,]*),r=([^,]+)(?:,.*)?)$/.exec(clientFirst);
    if (!match) throw new ScramFailure('malformed client-first-message');
    const [, , clientFirstBare = '', rawUser = '', clientNonce = ''] = match;
    if (/=(?!2C|3D)/.test(rawUser)) throw new ScramFailure('malformed user name');
    const user = rawUser.replaceAll('=2C', ',').replaceAll('=3D', '=');
    const credential = this.lookup(user);
    if (!credential) throw new ScramFailure('unknown user');
    const nonce = clientNonce + randomBytes(18).toString('base64');
    const serverFirst = `r=${nonce},s=${credential.salt.toString('base64')},i=${credential.iterations}`;
    const gs2 = clientFirst.slice(0, clientFirst.length - clientFirstBare.length);
    this.state = { credential, clientFirstBare, serverFirst, nonce, gs2 };
    this.user = user;
    return serverFirst;
  }

  final(clientFinal: string): string {
    const state = this.state;
    this.state = undefined; // one final message per conversation
    if (!state) throw new ScramFailure('client-final-message before client-first-message');
    const proofAt = clientFinal.lastIndexOf(',p=');
    const withoutProof = clientFinal.slice(0, proofAt);
    const binding = `c=${Buffer.from(state.gs2).toString('base64')},r=${state.nonce}`;
    if (proofAt < 0 || (withoutProof !== binding && !withoutProof.startsWith(`${binding},`)))
      throw new ScramFailure('channel binding or nonce does not match');
    const { digest, storedKey, serverKey } = state.credential;
    const authMessage = `${state.clientFirstBare},${state.serverFirst},${withoutProof}`;
    const signature = hmac(digest, storedKey, authMessage);
    const proof = Buffer.from(clientFinal.slice(proofAt + 3), 'base64');
    if (proof.length !== signature.length) throw new ScramFailure('wrong proof');
    const clientKey = Buffer.from(proof.map((byte, index) => byte ^ (signature[index] as number)));
    if (!timingSafeEqual(createHash(digest).update(clientKey).digest(), storedKey)) throw new ScramFailure('wrong proof');
    return `v=${hmac(digest, serverKey, authMessage).toString('base64')}`;
  }
}

const hmac = (digest: ScramDigest, key: Buffer, text: string) => createHmac(digest, key).update(text).digest();
