import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { decodeKey, generateKey } from '../../src/crypto/fernet.js';
import { initModels } from '../../src/db/models/index.js';
import { createSequelize } from '../../src/db/sequelize.js';
import { lastLine, patchbay } from '../support/cli.js';
import { createTestDatabase } from '../support/db.js';
import { requireServer } from '../support/servers.js';

function tempEnv(t: { after(fn: () => void): void }) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'patchbay-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, env: { DATABASE_URL: `sqlite:${path.join(dir, 'db.sqlite')}`, PATCHBAY_ENCRYPTION_KEYS: generateKey() } };
}

/** One clear line on stderr and exit code 1: never a stack trace. */
function assertFailsCleanly(result: { code: number | null; stderr: string }, pattern: RegExp) {
  assert.equal(result.code, 1, result.stderr);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line, got: ${result.stderr}`);
  assert.match(lines[0] ?? '', pattern);
  assert.doesNotMatch(result.stderr, /\s+at\s.+\(.*:\d+:\d+\)/, 'no stack trace');
}

describe('patchbay CLI', () => {
  it('migrates, reports status, and refuses to work on an unmigrated database', async (t) => {
    const { env } = tempEnv(t);
    assertFailsCleanly(patchbay(['orgs', 'create', 'acme'], env), /pending migration.*patchbay migrate/);
    const pending = patchbay(['migrate', 'status'], env);
    assert.equal(pending.code, 0);
    assert.match(pending.stdout, /^pending\s+0001-patchbay-core$/m);
    const migrated = patchbay(['migrate'], env);
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /applied 0001-patchbay-core/);
    assert.match(patchbay(['migrate'], env).stdout, /nothing to migrate/);
    assert.match(patchbay(['migrate', 'status'], env).stdout, /^applied\s+0002-policysynth-registry$/m);
  });

  it('manages organisations, users and API keys', async (t) => {
    const { env } = tempEnv(t);
    assert.equal(patchbay(['migrate'], env).code, 0);
    const org = patchbay(['orgs', 'create', 'acme', '--name', 'Acme Inc'], env);
    assert.equal(org.code, 0, org.stderr);
    assert.match(org.stdout, /created organization acme/);
    assertFailsCleanly(patchbay(['orgs', 'create', 'acme'], env), /already exists/);
    assertFailsCleanly(patchbay(['orgs', 'create', 'Bad Slug!'], env), /slug/);
    assert.match(patchbay(['orgs', 'list'], env).stdout, /^acme\t/m);

    const user = patchbay(['users', 'create', '--org', 'acme', '--email', 'ada@example.test', '--role', 'developer'], env);
    assert.equal(user.code, 0, user.stderr);
    const key = lastLine(user.stdout);
    assert.match(key, /^pbk_[A-Za-z0-9_-]{43}$/, 'the API key is the last line of standard output');

    assertFailsCleanly(patchbay(['users', 'create', '--org', 'acme', '--email', 'bob@example.test', '--role', 'owner'], env), /role/);
    assertFailsCleanly(patchbay(['users', 'create', '--org', 'nope', '--email', 'bob@example.test', '--role', 'member'], env), /does not exist/);
    assertFailsCleanly(patchbay(['users', 'create', '--org', 'acme', '--email', 'not-an-email', '--role', 'member'], env), /email/);

    // An existing email joins another organisation and gets a new key.
    assert.equal(patchbay(['orgs', 'create', 'beta'], env).code, 0);
    const again = patchbay(['users', 'create', '--org', 'beta', '--email', 'ada@example.test', '--role', 'admin', '--operator'], env);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /added existing user/);
    assert.notEqual(lastLine(again.stdout), key);

    const created = patchbay(['api-keys', 'create', '--email', 'ada@example.test'], env);
    assert.match(lastLine(created.stdout), /^pbk_/);
    const listed = patchbay(['api-keys', 'list', '--email', 'ada@example.test'], env);
    assert.equal(listed.code, 0);
    const rows = listed.stdout.trim().split('\n');
    assert.equal(rows.length, 3);
    assert.ok(!listed.stdout.includes(key), 'a listing never shows a key');
    const keyId = rows[0]?.split('\t')[0] ?? '';
    const revoked = patchbay(['api-keys', 'revoke', keyId], env);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.match(patchbay(['api-keys', 'list', '--email', 'ada@example.test'], env).stdout, /\trevoked\t/);
    assertFailsCleanly(patchbay(['api-keys', 'revoke', 'no-such-key'], env), /no API key/);
    assertFailsCleanly(patchbay(['api-keys', 'list', '--email', 'ghost@example.test'], env), /no user/);

    // Keys made and revoked at the command line are installation audit events (no organisation), never the key.
    const sequelize = createSequelize(loadConfig(env).database);
    t.after(() => sequelize.close());
    const events = await initModels(sequelize).AuditEvent.findAll({ where: { target_type: 'api_key' }, order: [['created_at', 'ASC']] });
    const createdId = /API key (\S+) for/.exec(created.stdout)?.[1];
    assert.deepEqual(
      events.map((e) => [e.action, e.organization_id, e.actor_type, e.target_id, e.outcome, (e.detail as { via?: string }).via]),
      [
        ['api_key.create', null, 'system', createdId, 'success', 'cli'],
        ['api_key.revoke', null, 'system', keyId, 'success', 'cli'],
      ],
    );
    const userId = (await initModels(sequelize).User.findOne({ where: { email: 'ada@example.test' } }))?.id;
    assert.ok(events.every((e) => (e.detail as { user_id?: string }).user_id === userId));
    assert.ok(!JSON.stringify(events.map((e) => e.toJSON())).includes(lastLine(created.stdout)));
  });

  it('generates Fernet keys and reports what each key protects', async (t) => {
    const { env } = tempEnv(t);
    const generated = patchbay(['encryption-keys', 'generate'], {});
    assert.equal(generated.code, 0);
    assert.equal(decodeKey(generated.stdout.trim()).length, 32);
    assert.equal(patchbay(['migrate'], env).code, 0);
    const status = patchbay(['encryption-keys', 'status'], env);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^[0-9a-f]{8}\t0\tprimary$/m);
  });

  it('fails with one clear line for a bad configuration or an unusable database', async (t) => {
    const { dir } = tempEnv(t);
    assertFailsCleanly(patchbay(['migrate'], { DATABASE_URL: 'mysql://x/y' }), /^error: DATABASE_URL: /);
    assertFailsCleanly(patchbay(['migrate'], { PORT: 'x' }), /^error: PORT: /);
    const database = { DATABASE_URL: `sqlite:${path.join(dir, 'x.sqlite')}` };
    assert.equal(patchbay(['migrate'], database).code, 0);
    assertFailsCleanly(patchbay(['encryption-keys', 'status'], { ...database, PATCHBAY_ENCRYPTION_KEYS: 'short' }), /PATCHBAY_ENCRYPTION_KEYS/);
    // A data folder that cannot be written (its parent is a file).
    writeFileSync(path.join(dir, 'file'), 'x');
    assertFailsCleanly(patchbay(['migrate'], { DATABASE_URL: `sqlite:${path.join(dir, 'file', 'db.sqlite')}` }), /cannot write/);
    assertFailsCleanly(patchbay(['nonsense'], {}), /unknown command/);
  });

  it('reports a missing or unreachable PostgreSQL database in one line', async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    assertFailsCleanly(patchbay(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/pb_no_such_database' }), /does not exist/);
    assertFailsCleanly(patchbay(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test' }), /connection refused/);
    const db = await createTestDatabase('postgres');
    t.after(() => db.drop());
    const migrated = patchbay(['migrate'], { DATABASE_URL: db.url });
    assert.equal(migrated.code, 0, migrated.stderr);
    assert.match(migrated.stdout, /applied 0002-policysynth-registry/);
  });
});
