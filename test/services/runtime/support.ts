import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { TestContext } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { loadConfig } from '../../../src/config.js';
import type { KeyRing } from '../../../src/crypto/key-ring.js';
import { initModels } from '../../../src/db/models/index.js';
import { createSequelize } from '../../../src/db/sequelize.js';
import { createServices } from '../../../src/services/index.js';
import { freePort, spawnPatchbay } from '../../support/cli.js';
import { inOrganization } from '../../support/contexts.js';

/** Services on a Sequelize instance of their own, as another process would have; closed after the test. */
export function servicesOn(url: string, keyRing: KeyRing, t: TestContext) {
  const config = loadConfig({ DATABASE_URL: url, LOG_LEVEL: 'silent' });
  const sequelize = createSequelize(config.database);
  const services = createServices({ config, sequelize, models: initModels(sequelize), keyRing, log: pino({ level: 'silent' }) });
  t.after(async () => {
    await services.writer.flush();
    await sequelize.close();
  });
  return { config, sequelize, services };
}

/** An organisation with an admin (and their API key), agent `agent-1` with a token, and a postgresql attachment `db`. */
export async function runtimeWorld(services: ReturnType<typeof createServices>) {
  const org = await services.accounts.createOrganization({ slug: `rt-${Date.now()}-${Math.random().toString(16).slice(2, 8)}` });
  const admin = await services.accounts.addMember({ organization: org.slug, email: 'admin@example.test', role: 'admin' });
  const context = { organizationId: org.id, actor: { type: 'user' as const, id: admin.user.id }, role: 'admin' as const };
  const agent = await services.agents.create(inOrganization(org.id, admin.user.id), { id: 'agent-1' });
  const token = await services.agents.issueToken(inOrganization(agent.organization_id, admin.user.id), agent, {});
  const connector = await services.connectors.create(context, {
    name: 'target',
    connector_type: 'database',
    provider: 'postgresql',
    config: { host: '127.0.0.1', port: 5432, username: 'postgres', database: 'test' },
    health_check_interval_s: 0,
  });
  await services.attachments.attach(context, connector.id, { agent_id: 'agent-1', alias: 'db' });
  return { org, adminKey: admin.apiKey, token, connector };
}


/** `patchbay serve --no-scheduler` on a free port, up and answering /healthz; killed after the test. */
export async function serve(t: TestContext, env: Record<string, string>) {
  const port = await freePort();
  const child = spawnPatchbay(['serve', '--no-scheduler', '--port', String(port)], env);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = once(child, 'exit');
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (up) break;
    assert.ok(Date.now() < deadline && child.exitCode === null, stderr);
    await sleep(200);
  }
  return { port, child, exited, stderr: () => stderr, base: `http://127.0.0.1:${port}/api/v1` };
}

/** Calls `probe` every 50 ms until it returns `want`, for at most `boundMs`; returns what it saw last. */
export async function until<T>(probe: () => Promise<T>, want: T, boundMs = 5_000): Promise<T> {
  const deadline = Date.now() + boundMs;
  let seen = await probe();
  while (seen !== want && Date.now() < deadline) {
    await sleep(50);
    seen = await probe();
  }
  return seen;
}
