import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';

describe('configuration', () => {
  it('has the defaults of DESIGN.md section 3', () => {
    const config = loadConfig({});
    assert.deepEqual(config.database, {
      dialect: 'sqlite',
      storage: path.resolve('./data/patchbay.sqlite'),
      url: 'sqlite:./data/patchbay.sqlite',
    });
    assert.equal(config.host, '127.0.0.1');
    assert.equal(config.port, 8080);
    assert.equal(config.egress, 'private');
    assert.equal(config.bodyLimitBytes, 1_048_576);
    assert.equal(config.rateLimitPerKey, 600);
    assert.equal(config.rateLimitFailedAuth, 30);
    assert.equal(config.poolMax, 4);
    assert.equal(config.poolIdleMs, 30_000);
    assert.equal(config.policysynthUserId, 1);
    assert.deepEqual(config.health, { concurrency: 8, failureThreshold: 2, minIntervalS: 30, retentionDays: 7 });
    assert.equal(config.auditRetentionDays, 90);
    assert.equal(config.encryptionKeys, undefined);
    assert.ok(Object.isFrozen(config));
  });

  it('reads postgres:// and sqlite: URLs', () => {
    assert.equal(loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/patchbay' }).database.dialect, 'postgres');
    assert.equal(loadConfig({ DATABASE_URL: 'postgresql://db/patchbay' }).database.dialect, 'postgres');
    const sqlite = loadConfig({ DATABASE_URL: 'sqlite:/tmp/x.sqlite' }).database;
    assert.deepEqual(sqlite, { dialect: 'sqlite', storage: '/tmp/x.sqlite', url: 'sqlite:/tmp/x.sqlite' });
  });

  it('sizes the PostgreSQL app database pool with PATCHBAY_DB_POOL_MAX (SQLite has no pool)', () => {
    const postgres = loadConfig({ DATABASE_URL: 'postgres://db/patchbay', PATCHBAY_DB_POOL_MAX: '40' }).database;
    assert.equal(postgres.dialect === 'postgres' && postgres.poolMax, 40);
    const unset = loadConfig({ DATABASE_URL: 'postgres://db/patchbay' }).database;
    assert.equal(unset.dialect === 'postgres' && unset.poolMax, undefined);
    assert.equal('poolMax' in loadConfig({ DATABASE_URL: 'sqlite:./x.sqlite', PATCHBAY_DB_POOL_MAX: '40' }).database, false);
  });

  it("falls back to PolicySynth's PSQL_DB_* variables when DATABASE_URL is unset", () => {
    const config = loadConfig({ PSQL_DB_NAME: 'ps', PSQL_DB_USER: 'psuser', PSQL_DB_PASS: 'p@ss', DB_HOST: 'dbhost', DB_PORT: '6543' });
    assert.equal(config.database.dialect, 'postgres');
    const url = new URL(config.database.url);
    assert.equal(url.hostname, 'dbhost');
    assert.equal(url.port, '6543');
    assert.equal(url.pathname, '/ps');
    assert.equal(decodeURIComponent(url.password), 'p@ss');
    // DATABASE_URL wins when both are set.
    assert.equal(loadConfig({ DATABASE_URL: 'sqlite:./x.sqlite', PSQL_DB_NAME: 'ps' }).database.dialect, 'sqlite');
  });

  const bad: [string, string][] = [
    ['DATABASE_URL', 'mysql://localhost/x'],
    ['DATABASE_URL', 'postgres://'],
    ['DATABASE_URL', 'sqlite:'],
    ['PORT', 'eighty'],
    ['PORT', '70000'],
    ['LOG_LEVEL', 'loud'],
    ['PATCHBAY_EGRESS', 'everywhere'],
    ['PATCHBAY_BODY_LIMIT_BYTES', '-1'],
    ['PATCHBAY_ENCRYPTION_KEYS', ' , '],
    ['PATCHBAY_POOL_MAX', '0'],
    ['PATCHBAY_DB_POOL_MAX', '0'],
  ];
  for (const [variable, value] of bad) {
    it(`refuses ${variable}=${value} with an error naming the variable and not echoing the value`, () => {
      assert.throws(
        () => loadConfig({ [variable]: value }),
        (error: unknown) => {
          assert.ok(error instanceof ConfigError);
          assert.equal(error.variable, variable);
          assert.match(error.message, new RegExp(`^${variable}: `));
          assert.ok(!error.message.includes('\n'));
          return true;
        },
      );
    });
  }
});
