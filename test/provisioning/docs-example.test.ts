import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { parse } from 'yaml';
import { patchbay } from '../support/cli.js';
import { applyHere, planHere, provisioningSetup, storedConfig } from './support.js';

const doc = readFileSync(new URL('../../docs/provisioning.md', import.meta.url), 'utf8');

/** The yaml block under "## A complete example" of docs/provisioning.md, as the reader sees it. */
function completeExample(): string {
  const section = doc.slice(doc.indexOf('## A complete example'));
  const block = /```yaml\n([\s\S]*?)```/.exec(section);
  assert.ok(block?.[1], 'docs/provisioning.md has its complete example');
  return block[1];
}

const env = {
  ORDERS_DB_PORT: '5433',
  ORDERS_DB_PASSWORD: 'docs-orders-password',
  BILLING_API_TOKEN: 'docs-billing-token',
  BILLING_TENANT_KEY: 'docs-tenant-key',
  ALERTS_WEBHOOK_SECRET: 'docs-alerts-webhook-secret',
};

describe('docs/provisioning.md', () => {
  it('its complete example is valid under `patchbay schema`, applies, and applies again as no change', async (t) => {
    const example = completeExample();
    const schema = patchbay(['schema'], {});
    assert.equal(schema.code, 0, schema.stderr);
    const validate = new Ajv2020({ strict: false, allErrors: true, validateFormats: false }).compile(JSON.parse(schema.stdout) as object);
    assert.ok(validate(parse(example)), JSON.stringify(validate.errors));
    // The schema refuses a literal secret and an unknown provider field.
    const literal = parse(example) as { connectors: { config: Record<string, unknown> }[] };
    (literal.connectors[0] as { config: Record<string, unknown> }).config.password = 'hunter2';
    assert.equal(validate(literal), false);

    const setup = await provisioningSetup(t, 'sqlite');
    if (!setup) return;
    const org = await setup.services.accounts.createOrganization({ slug: 'default' });
    mkdirSync(path.join(setup.dir, 'secrets'));
    setup.write('secrets/redis-password', 'docs-redis-password\n');
    const file = setup.write('patchbay.yaml', example);
    const applied = await applyHere(setup, file, env);
    assert.equal(applied.organization, 'default');
    assert.equal(applied.changes.length, 8, JSON.stringify(applied.changes));
    assert.equal((await storedConfig(setup, 'orders', org.id))?.config.port, 5433);
    assert.equal((await storedConfig(setup, 'sessions', org.id))?.config.password, 'docs-redis-password');
    assert.equal((await storedConfig(setup, 'billing-api', org.id))?.row.enabled, false);
    assert.deepEqual((await planHere(setup, file, env)).changes, []);
  });
});
