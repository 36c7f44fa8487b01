import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { requireServer } from '../support/servers.js';
import { applyHere, provisioningSetup, storedConfig } from './support.js';

// MCP Toolbox's documented tools.yaml (v1: one `sources:` map, each with its `kind`), with tools that are not imported.
const toolsV1 = `sources:
  my-pg-source:
    kind: postgres
    host: 127.0.0.1
    port: 5432
    database: test
    user: \${PG_USER}
    password: \${PG_PASSWORD}
  my-mysql-source:
    kind: mysql
    host: 127.0.0.1
    port: 3306
    database: my_db
    user: \${MYSQL_USER}
    password: \${MYSQL_PASSWORD}
    queryTimeout: 30s
  my-sqlite-db:
    kind: "sqlite"
    database: "inventory.db"
  my-redis-instance:
    kind: redis
    address:
      - 127.0.0.1:6379
    password: \${MY_AUTH_STRING}
    database: 2
  my-mongodb:
    kind: mongodb
    uri: "mongodb://app:literal-canary@127.0.0.1:27017/app"
  my-http-source:
    kind: http
    baseUrl: https://api.example.com/data
    timeout: 10s
    headers:
      X-Api-Key: \${API_KEY}
  my-cloud-sql-pg-source:
    kind: cloud-sql-postgres
    project: my-project-id
    region: us-central1
    instance: my-instance
    database: my_db
    user: my-user
    password: \${CLOUD_PW}
  my-bigquery-source:
    kind: bigquery
    project: my-project-id
tools:
  search-hotels:
    kind: postgres-sql
    source: my-pg-source
    description: Search hotels
    statement: SELECT * FROM hotels WHERE name ILIKE '%' || $1 || '%';
`;

// The v2 format: one document per resource, kind: sources with a name and a type.
const toolsV2 = `kind: sources
name: v2-pg
type: postgres
host: 127.0.0.1
port: "5432"
database: test
user: \${PG_USER}
password: \${PG_PASSWORD}
---
kind: tools
name: list-tables
type: postgres-list-tables
source: v2-pg
`;

describe('patchbay import toolbox', () => {
  it("turns a Toolbox tools.yaml's sources into connectors that apply, keeping its environment references", async (t) => {
    if (!(await requireServer(t, 'postgresql'))) return;
    const setup = await provisioningSetup(t, 'sqlite');
    if (!setup) return;
    const tools = setup.write('tools.yaml', toolsV1);
    const imported = setup.cli(['import', 'toolbox', tools, '--org', setup.organization.slug]);
    assert.equal(imported.code, 0, imported.stderr);
    assert.ok(!imported.stdout.includes('literal-canary'), 'a literal secret is never copied');
    assert.match(imported.stdout, /password: \$\{env:PG_PASSWORD\}/);
    assert.match(imported.stderr, /skipped my-cloud-sql-pg-source \(cloud-sql-postgres\): .*Cloud SQL/);
    assert.match(imported.stderr, /skipped my-bigquery-source \(bigquery\): Patchbay has no provider/);
    assert.match(imported.stderr, /set PATCHBAY_MY_MONGODB_CONNECTION_STRING/);
    const file = setup.write('patchbay.yaml', imported.stdout);

    const env = {
      PG_USER: 'postgres',
      PG_PASSWORD: 'toolbox-pg-password',
      MYSQL_USER: 'root',
      MYSQL_PASSWORD: 'toolbox-mysql-password',
      MY_AUTH_STRING: 'toolbox-redis-password',
      API_KEY: 'toolbox-api-key',
      PATCHBAY_MY_MONGODB_CONNECTION_STRING: 'mongodb://app:pw@127.0.0.1:27017/app',
    };
    const result = await applyHere(setup, file, env);
    assert.deepEqual(
      result.changes.map((c) => `${c.action} ${c.key}`),
      ['create my-pg-source', 'create my-mysql-source', 'create my-sqlite-db', 'create my-redis-instance', 'create my-mongodb', 'create my-http-source'],
    );
    const pg = await storedConfig(setup, 'my-pg-source');
    assert.deepEqual(
      { host: pg?.config.host, port: pg?.config.port, database: pg?.config.database, username: pg?.config.username, password: pg?.config.password },
      { host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres', password: 'toolbox-pg-password' },
    );
    assert.equal((await storedConfig(setup, 'my-sqlite-db'))?.config.path, 'inventory.db');
    const redis = (await storedConfig(setup, 'my-redis-instance'))?.config;
    assert.deepEqual([redis?.host, redis?.port, redis?.db, redis?.password], ['127.0.0.1', 6379, 2, 'toolbox-redis-password']);
    assert.equal((await storedConfig(setup, 'my-mongodb'))?.config.connection_string, 'mongodb://app:pw@127.0.0.1:27017/app');
    assert.deepEqual((await storedConfig(setup, 'my-http-source'))?.config.headers, { 'X-Api-Key': 'toolbox-api-key' });
    // The imported PostgreSQL connector really connects.
    const test = await setup.services.connectors.test({ organizationId: setup.organization.id, actor: { type: 'system', id: null } }, pg!.row.id);
    assert.equal(test.success, true, test.message);

    // Toolbox's v2 format (one document per resource) imports the same way.
    const v2 = setup.cli(['import', 'toolbox', setup.write('tools-v2.yaml', toolsV2), '--org', setup.organization.slug]);
    assert.equal(v2.code, 0, v2.stderr);
    assert.match(v2.stdout, /name: v2-pg\n\s+provider: postgresql/);
    assert.match(v2.stdout, /port: 5432/);
  });
});
