import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, test, type TestContext } from 'node:test';
import { encrypt, generateKey } from '../../src/crypto/fernet.js';
import {
  DecryptionError,
  type DecryptionFailure,
  generateDevKeyFile,
  KeyRing,
  KeyRingError,
  type SealBinding,
} from '../../src/crypto/key-ring.js';
import { PatchbayError } from '../../src/errors.js';

const connector: SealBinding = { organization_id: 'org-1', connector_id: 'con-1' };
const config = { host: 'db.internal', user: 'app', password: 'correct-horse-battery-staple' };

/** Runs `open`, asserts it fails as a DecryptionError with `reason`, and returns that error. */
function openFailure(run: () => unknown, reason: DecryptionFailure): DecryptionError {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof DecryptionError, String(error));
    assert.ok(error instanceof PatchbayError);
    assert.equal(error.code, 'internal_error');
    assert.equal(error.status, 500);
    assert.equal(error.reason, reason, error.message);
    return error;
  }
  assert.fail(`expected a DecryptionError (${reason})`);
}

/** Serialises everything an error could carry outward: message, chained causes and enumerable fields. */
function everythingIn(error: unknown): string {
  const parts: string[] = [];
  for (let current = error; current instanceof Error; current = current.cause) {
    parts.push(current.message, String(current.stack), JSON.stringify(current));
  }
  return parts.join('\n');
}

describe('KeyRing', () => {
  test('key ids are the first 8 hex digits of SHA-256 of the decoded keys, primary first', () => {
    const [a, b] = [generateKey(), generateKey()];
    const sha = (key: string) => createHash('sha256').update(Buffer.from(key, 'base64url')).digest('hex').slice(0, 8);
    const ring = KeyRing.fromKeys([a, b]);
    assert.equal(ring.primaryKeyId, sha(a));
    assert.deepEqual(ring.keyIds, [sha(a), sha(b)]);
    assert.ok(ring.has(sha(b)));
    assert.ok(!ring.has('00000000'));
    assert.equal(ring.needsReencrypt(sha(a)), false);
    assert.equal(ring.needsReencrypt(sha(b)), true);
  });

  test('seal and open round-trip a config, and a webhook secret, under the primary key', () => {
    const ring = KeyRing.fromKeys([generateKey(), generateKey()]);
    const sealed = ring.seal(connector, config);
    assert.equal(sealed.key_id, ring.primaryKeyId);
    assert.ok(!sealed.token.includes(config.password));
    assert.deepEqual(ring.open(connector, sealed.token, sealed.key_id), config);
    assert.deepEqual(ring.open(connector, sealed.token), config);

    const webhook: SealBinding = { organization_id: 'org-1', webhook_id: 'hook-1' };
    const secret = ring.seal(webhook, 'whsec-0123456789');
    assert.equal(ring.open(webhook, secret.token, secret.key_id), 'whsec-0123456789');
  });

  test('rotation end to end: seal under A, open with [B, A], re-seal under B, retire A', () => {
    const [a, b] = [generateKey(), generateKey()];
    const underA = KeyRing.fromKeys([a]).seal(connector, config);

    const rotating = KeyRing.fromKeys([b, a]);
    assert.ok(rotating.needsReencrypt(underA.key_id));
    assert.deepEqual(rotating.open(connector, underA.token, underA.key_id), config);
    const underB = rotating.seal(connector, rotating.open(connector, underA.token, underA.key_id));
    assert.equal(underB.key_id, rotating.primaryKeyId);
    assert.ok(!rotating.needsReencrypt(underB.key_id));

    assert.deepEqual(KeyRing.fromKeys([b]).open(connector, underB.token, underB.key_id), config);

    const onlyA = KeyRing.fromKeys([a]);
    const retired = openFailure(() => onlyA.open(connector, underB.token, underB.key_id), 'unknown_key');
    assert.ok(retired.message.includes(underB.key_id) && retired.message.includes('con-1'), retired.message);
    assert.ok(retired.message.includes('PATCHBAY_ENCRYPTION_KEYS'), retired.message);
  });

  test('a stale or missing key id still opens the token with whichever key fits', () => {
    const [a, b] = [generateKey(), generateKey()];
    const ring = KeyRing.fromKeys([b, a]);
    const underA = KeyRing.fromKeys([a]).seal(connector, config);
    assert.deepEqual(ring.open(connector, underA.token, ring.primaryKeyId), config);
    assert.deepEqual(ring.open(connector, underA.token, 'ffffffff'), config);
  });

  test('a token copied to another connector, organisation or a webhook row is refused', () => {
    const ring = KeyRing.fromKeys([generateKey()]);
    const { token, key_id } = ring.seal(connector, config);
    for (const elsewhere of [
      { organization_id: 'org-1', connector_id: 'con-2' },
      { organization_id: 'org-2', connector_id: 'con-1' },
      { organization_id: 'org-1', webhook_id: 'con-1' },
    ] satisfies SealBinding[]) {
      const error = openFailure(() => ring.open(elsewhere, token, key_id), 'wrong_row');
      assert.ok(!everythingIn(error).includes(config.password));
    }
  });

  test('damaged tokens fail clearly, without the plaintext or the key in any message', () => {
    const key = generateKey();
    const ring = KeyRing.fromKeys([key]);
    const { token, key_id } = ring.seal(connector, config);
    const middle = Math.floor(token.length / 2);
    const flipped = token.slice(0, middle) + (token[middle] === 'A' ? 'B' : 'A') + token.slice(middle + 1);

    const failures = [
      openFailure(() => ring.open(connector, flipped, key_id), 'damaged'),
      openFailure(() => ring.open(connector, token.slice(0, -4), key_id), 'damaged'),
      openFailure(() => ring.open(connector, 'garbage!', key_id), 'damaged'),
      openFailure(() => ring.open(connector, '', key_id), 'damaged'),
      // Without the row's key id a bad signature cannot be told from a missing key.
      openFailure(() => ring.open(connector, flipped), 'unknown_key'),
    ];
    for (const error of failures) {
      const text = everythingIn(error);
      assert.ok(error.message.includes('con-1'), error.message);
      for (const secret of [key, config.password, config.host, token]) assert.ok(!text.includes(secret), text);
    }
    assert.ok(failures[0]!.message.includes(key_id), failures[0]!.message);
  });

  test('a valid Fernet token that is not a Patchbay envelope is damaged, and its text is not quoted', () => {
    const key = generateKey();
    const ring = KeyRing.fromKeys([key]);
    for (const plaintext of ['plain text password-123', JSON.stringify({ v: 2, config: 'password-123' }), '[]']) {
      const error = openFailure(() => ring.open(connector, encrypt(key, plaintext), ring.primaryKeyId), 'damaged');
      assert.ok(!everythingIn(error).includes('password-123'));
    }
  });

  test('fromKeys names a malformed key by its position only, and collapses duplicates', () => {
    const good = generateKey();
    const bad = `${good.slice(0, 20)}+/${good.slice(22)}`;
    assert.throws(
      () => KeyRing.fromKeys([good, bad]),
      (error: unknown) =>
        error instanceof KeyRingError &&
        error.message.includes('key 2') &&
        error.message.includes('PATCHBAY_ENCRYPTION_KEYS') &&
        !error.message.includes(bad) &&
        !error.message.includes(good),
    );
    for (const malformed of ['short', '', good.slice(0, -1), `${good}AAAA`]) {
      assert.throws(() => KeyRing.fromKeys([malformed]), KeyRingError);
    }
    assert.throws(() => KeyRing.fromKeys([]), KeyRingError);

    const other = generateKey();
    assert.equal(KeyRing.fromKeys([good, other, good]).keyIds.length, 2);
    assert.equal(KeyRing.fromKeys([good, other, good]).primaryKeyId, KeyRing.fromKeys([good]).primaryKeyId);
  });
});

describe('generateDevKeyFile', () => {
  const tempDir = (t: TestContext) => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'patchbay-keys-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  };

  test('creates the folder and a key readable by its owner only, then reads the same key back', (t) => {
    const file = path.join(tempDir(t), 'data', 'nested', 'dev-encryption.key');
    const first = generateDevKeyFile(file);
    assert.equal(first.created, true);
    assert.equal(first.keys.length, 1);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.ok(readFileSync(file, 'utf8').includes(first.keys[0]!));

    const again = generateDevKeyFile(file);
    assert.deepEqual(again, { created: false, keys: first.keys });
    const ring = KeyRing.fromKeys(again.keys);
    assert.deepEqual(ring.open(connector, KeyRing.fromKeys(first.keys).seal(connector, config).token), config);
  });

  test('reads several keys, primary first, and names a bad line without quoting it', (t) => {
    const dir = tempDir(t);
    const [a, b] = [generateKey(), generateKey()];
    const file = path.join(dir, 'dev-encryption.key');
    writeFileSync(file, `# comment\n${a}\n\n${b}\n`);
    assert.deepEqual(generateDevKeyFile(file), { created: false, keys: [a, b] });

    const broken = path.join(dir, 'broken.key');
    writeFileSync(broken, `${a}\nnot-a-key-but-maybe-a-secret\n`);
    assert.throws(
      () => generateDevKeyFile(broken),
      (error: unknown) =>
        error instanceof KeyRingError &&
        error.message.includes('line 2') &&
        !error.message.includes('not-a-key-but-maybe-a-secret'),
    );
    const empty = path.join(dir, 'empty.key');
    writeFileSync(empty, '\n');
    assert.throws(() => generateDevKeyFile(empty), KeyRingError);
  });
});
