import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import { decodeKey, decrypt, encrypt, FernetError, generateKey, keyId } from '../../src/crypto/fernet.js';
import { KeyRing } from '../../src/crypto/key-ring.js';

// The acceptance vectors of https://github.com/fernet/spec for version 0x80, the only version Patchbay writes
// or reads: generate.json and verify.json as Python's `cryptography` vendors them, invalid.json with the spec's
// later base64 cases (trailing data, stray and non-url-safe characters), which Python itself still accepts.
interface GenerateVector {
  token: string;
  now: string;
  iv: number[];
  src: string;
  secret: string;
}
interface VerifyVector {
  token: string;
  now: string;
  ttl_sec: number;
  src: string;
  secret: string;
}
interface InvalidVector {
  desc: string;
  token: string;
  now: string;
  ttl_sec: number;
  secret: string;
}

function fixture<T>(name: string): T[] {
  const vectors = JSON.parse(readFileSync(new URL(`../fixtures/fernet/${name}`, import.meta.url), 'utf8')) as T[];
  // An empty file would register no test at all and pass in silence.
  assert.ok(vectors.length > 0, `${name} holds no vectors`);
  return vectors;
}

/** The reason of the FernetError that `run` throws; fails the test if it throws nothing or something else. */
function reasonOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof FernetError, String(error));
    return error.reason;
  }
  assert.fail('expected a FernetError');
}

describe('fernet: specification vectors', () => {
  for (const vector of fixture<GenerateVector>('generate.json')) {
    test(`generate: "${vector.src}" at ${vector.now}`, () => {
      const token = encrypt(vector.secret, vector.src, { now: new Date(vector.now), iv: Buffer.from(vector.iv) });
      assert.equal(token, vector.token);
    });
  }

  for (const vector of fixture<VerifyVector>('verify.json')) {
    test(`verify: "${vector.src}" with ttl ${vector.ttl_sec}s at ${vector.now}`, () => {
      const plaintext = decrypt(vector.secret, vector.token, { ttlSeconds: vector.ttl_sec, now: new Date(vector.now) });
      assert.equal(plaintext.toString('utf8'), vector.src);
    });
  }

  // Each vector should fail for its own reason, not by accident on an earlier check.
  const expectedReasons: Record<string, string> = {
    'incorrect mac': 'bad_signature',
    'far-future TS (unacceptable clock skew)': 'future_timestamp',
    'expired TTL': 'expired',
  };
  for (const vector of fixture<InvalidVector>('invalid.json')) {
    test(`invalid: ${vector.desc}`, () => {
      const options = { ttlSeconds: vector.ttl_sec, now: new Date(vector.now) };
      assert.equal(
        reasonOf(() => decrypt(vector.secret, vector.token, options)),
        expectedReasons[vector.desc] ?? 'invalid_token',
      );
    });
  }
});

/** Token text from raw bytes: url-safe base64 with the padding Node's 'base64url' leaves out. */
const toToken = (bytes: Buffer): string => {
  const text = bytes.toString('base64url');
  return text.padEnd(Math.ceil(text.length / 4) * 4, '=');
};

describe('fernet: codec', () => {
  const [verified] = fixture<VerifyVector>('verify.json');
  assert.ok(verified);

  test('round-trips text, binary, empty and block-sized plaintexts under a generated key', () => {
    const key = generateKey();
    for (const plaintext of [Buffer.from('héllo, wörld ✓'), randomBytes(100), Buffer.alloc(0), Buffer.alloc(16, 7)]) {
      assert.deepEqual(decrypt(key, encrypt(key, plaintext)), plaintext);
    }
  });

  test('a random IV makes every token different', () => {
    const key = generateKey();
    assert.notEqual(encrypt(key, 'same'), encrypt(key, 'same'));
  });

  test('generateKey gives 44 characters of url-safe base64 holding 32 bytes, new each time', () => {
    const key = generateKey();
    assert.match(key, /^[A-Za-z0-9_-]{43}=$/);
    assert.equal(decodeKey(key).length, 32);
    assert.notEqual(generateKey(), key);
  });

  test('decodeKey refuses what is not 32 bytes of padded url-safe base64', () => {
    const valid = generateKey();
    const malformed = [
      '',
      'not a key',
      valid.slice(0, -1), // padding missing
      Buffer.alloc(32, 0xfb).toString('base64'), // standard alphabet: '+' and '/'
      Buffer.alloc(16).toString('base64url') + '==', // 16 bytes
      Buffer.alloc(48).toString('base64url'), // 48 bytes
      `${valid}x`,
    ];
    for (const key of malformed) {
      assert.equal(reasonOf(() => decodeKey(key)), 'invalid_key');
    }
  });

  test('keyId is the first 8 hex digits of SHA-256 of the decoded key bytes', () => {
    const key = generateKey();
    const expected = createHash('sha256').update(Buffer.from(key, 'base64url')).digest('hex').slice(0, 8);
    assert.equal(keyId(key), expected);
    assert.equal(keyId(decodeKey(key)), expected);
    assert.equal(keyId(verified.secret), 'cbeb362f'); // computed independently with Python's hashlib
  });

  test('a tampered token fails its signature before anything is decrypted', () => {
    const key = generateKey();
    const bytes = Buffer.from(encrypt(key, 'payload'), 'base64url');
    bytes[30]! ^= 0x01; // inside the ciphertext: unchecked, this would surface as a padding error
    assert.equal(reasonOf(() => decrypt(key, toToken(bytes))), 'bad_signature');
  });

  test('reasons: wrong key, expired, stamped in the future, bad version', () => {
    const key = generateKey();
    const token = encrypt(key, 'payload', { now: new Date('2024-01-01T00:00:00Z') });
    const at = (iso: string) => ({ ttlSeconds: 60, now: new Date(iso) });
    assert.equal(reasonOf(() => decrypt(generateKey(), token)), 'bad_signature');
    assert.equal(decrypt(key, token, at('2024-01-01T00:01:00Z')).toString('utf8'), 'payload'); // exactly ttl old
    assert.equal(reasonOf(() => decrypt(key, token, at('2024-01-01T00:01:01Z'))), 'expired');
    assert.equal(decrypt(key, token, at('2023-12-31T23:59:00Z')).toString('utf8'), 'payload'); // 60 s skew
    assert.equal(reasonOf(() => decrypt(key, token, at('2023-12-31T23:58:59Z'))), 'future_timestamp');
    const versioned = Buffer.from(token, 'base64url');
    versioned[0] = 0x81;
    assert.equal(reasonOf(() => decrypt(key, toToken(versioned))), 'invalid_token');
  });

  test('without a ttl, neither age nor clock skew is checked (stored configs live for years)', () => {
    assert.equal(decrypt(verified.secret, verified.token).toString('utf8'), verified.src);
    const key = generateKey();
    const future = encrypt(key, 'ahead', { now: new Date(Date.now() + 3_600_000) });
    assert.equal(decrypt(key, future).toString('utf8'), 'ahead');
  });

  test('error messages never contain the key or the plaintext', () => {
    const key = generateKey();
    const plaintext = 'hunter2-super-secret-password';
    const token = encrypt(key, plaintext);
    const caught = (run: () => unknown): unknown => {
      try {
        run();
      } catch (error) {
        return error;
      }
      assert.fail('expected a FernetError');
    };
    for (const error of [
      caught(() => decrypt(generateKey(), token)),
      caught(() => decrypt(key, token.slice(0, -8))),
      caught(() => decrypt(key, token, { ttlSeconds: 1, now: new Date(Date.now() + 10_000) })),
      caught(() => decodeKey(`${key}x`)),
    ]) {
      assert.ok(error instanceof FernetError);
      const text = `${String(error)} ${JSON.stringify(error)}`;
      assert.ok(!text.includes(key) && !text.includes(plaintext) && !text.includes(token.slice(10, 40)), text);
    }
  });
});

/**
 * Interoperability with Python's `cryptography`: the promise that any Fernet implementation holding the key can
 * read Patchbay's tokens. Debian's python3-cryptography installs for /usr/bin/python3, which a pyenv `python3`
 * on PATH may shadow, so both are tried.
 */
const PYTHON_FERNET = `
import json, sys
from cryptography.fernet import Fernet
request = json.load(sys.stdin)
fernet = Fernet(request["key"].encode("ascii"))
if "token" in request:
    sys.stdout.write(fernet.decrypt(request["token"].encode("ascii")).decode("utf-8"))
else:
    sys.stdout.write(fernet.encrypt(request["plaintext"].encode("utf-8")).decode("ascii"))
`;

let python: string | null | undefined;

function findPython(): string | null {
  if (python === undefined) {
    python =
      ['/usr/bin/python3', 'python3'].find(
        (candidate) => spawnSync(candidate, ['-c', 'import cryptography.fernet'], { stdio: 'ignore' }).status === 0,
      ) ?? null;
  }
  return python;
}

/** The interpreter to use, or undefined after skipping the test; under CI=true a missing one fails instead. */
function requirePython(t: TestContext): string | undefined {
  const found = findPython();
  if (found) return found;
  const message = 'no Python with the cryptography package; install it with: apt-get install python3-cryptography';
  if (process.env.CI === 'true') throw new Error(message);
  t.skip(message);
  return undefined;
}

// The key travels on stdin rather than in argv, where other processes could read it.
type PythonRequest = { key: string; token: string } | { key: string; plaintext: string };

function runPython(interpreter: string, request: PythonRequest): string {
  const result = spawnSync(interpreter, ['-c', PYTHON_FERNET], { input: JSON.stringify(request), encoding: 'utf8' });
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

describe('fernet: interoperability with Python cryptography', () => {
  test('a Patchbay token decrypts in Python with the same key', (t) => {
    const interpreter = requirePython(t);
    if (!interpreter) return;
    const key = generateKey();
    const plaintext = 'Grüße from Patchbay ✓';
    assert.equal(runPython(interpreter, { key, token: encrypt(key, plaintext) }), plaintext);
  });

  test('a KeyRing.seal token decrypts in Python to its JSON envelope', (t) => {
    const interpreter = requirePython(t);
    if (!interpreter) return;
    const key = generateKey();
    const config = { host: 'db.internal', port: 5432, password: 'p@ss wörd' };
    const { token } = KeyRing.fromKeys([key]).seal({ organization_id: 'org-1', connector_id: 'con-1' }, config);
    assert.deepEqual(JSON.parse(runPython(interpreter, { key, token })), {
      v: 1,
      organization_id: 'org-1',
      connector_id: 'con-1',
      config,
    });
  });

  test('a Python token decrypts in Patchbay', (t) => {
    const interpreter = requirePython(t);
    if (!interpreter) return;
    const key = generateKey();
    const plaintext = 'made by Python, ünïcode included';
    const token = runPython(interpreter, { key, plaintext });
    assert.equal(decrypt(key, token, { ttlSeconds: 60 }).toString('utf8'), plaintext);
  });
});
