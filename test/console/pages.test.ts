import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closedPort } from '../support/listeners.js';
import { requireServer } from '../support/servers.js';
import { openBrowser, requireBrowser, sentinel, signIn, startServer, type ConsoleServer } from './browser.js';

const pg = { host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres' };

async function connector(server: ConsoleServer, name: string, config: Record<string, unknown>) {
  const response = await server.rest('POST', '/connectors', { name, connector_type: 'database', provider: 'postgresql', config });
  assert.equal(response.status, 201, response.body);
  return response.json() as { id: string };
}

describe('console: detail, health, delete, roles and the keyboard', () => {
  it('keeps a test result on its own connector, and the health page shows the API figures', async (t) => {
    if (!requireBrowser(t) || !(await requireServer(t, 'postgresql'))) return;
    const server = await startServer(t);
    if (!server) return;
    const secret = sentinel();
    await connector(server, 'broken', { ...pg, port: await closedPort(), password: secret });
    const working = await connector(server, 'working', pg);
    for (let i = 0; i < 3; i++) assert.equal((await server.rest('POST', `/connectors/${working.id}/test`)).status, 200);

    const { page, guard } = await openBrowser(t, [secret]);
    await signIn(page, server.origin, server.admin.key);
    await page.getByRole('link', { name: 'broken' }).click();
    await page.getByRole('button', { name: 'Test connection' }).click();
    const result = page.getByRole('status').filter({ hasText: 'Connection' });
    await result.getByText('Connection failed: connection_refused').waitFor();
    assert.match(await result.innerText(), /Latency \d+ ms, tested /);

    await page.getByRole('link', { name: 'Connectors' }).click();
    await page.getByRole('link', { name: 'working' }).click();
    await page.getByRole('heading', { name: 'working' }).waitFor();
    assert.equal(await page.getByText('Connection failed').count(), 0, "another connector's result never shows here");
    assert.equal(await page.getByText('connection_refused').count(), 0);

    await page.getByRole('link', { name: 'Health' }).click();
    await page.getByRole('heading', { name: 'Health of working' }).waitFor();
    const health = (await server.rest('GET', `/connectors/${working.id}/health`)).json() as {
      summary: Record<string, { uptime_percent: number | null; p50_ms: number | null; p95_ms: number | null; checks: number }>;
    };
    for (const window of ['1h', '24h', '7d']) {
      const s = health.summary[window]!;
      const cells = await page.locator(`tr[data-window="${window}"] td`).allInnerTexts();
      assert.deepEqual(cells, [`${s.uptime_percent?.toFixed(1)} %`, `${s.p50_ms} ms`, `${s.p95_ms} ms`, String(s.checks)]);
    }
    assert.equal(await page.getByRole('table', { name: 'Checks, newest first' }).getByRole('row').count(), 4);
    await page.getByTestId('latency-chart').locator('canvas').waitFor();
    await guard.assertAccessible('health');
    await guard.assertClean();
  });

  it('deletes a connector in use after listing its attachments', async (t) => {
    if (!requireBrowser(t)) return;
    const server = await startServer(t);
    if (!server) return;
    const used = await connector(server, 'in-use', pg);
    assert.equal((await server.rest('POST', '/agents', { id: 'agent-x' })).status, 201);
    assert.equal((await server.rest('POST', `/connectors/${used.id}/attach`, { agent_id: 'agent-x', alias: 'crm' })).status, 201);

    const { page, guard } = await openBrowser(t);
    await signIn(page, server.origin, server.admin.key);
    await page.getByRole('link', { name: 'in-use' }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete in-use?' });
    await dialog.getByRole('button', { name: 'Delete connector' }).click();
    await dialog.getByText('agent-x as crm').waitFor();
    await guard.assertAccessible('delete dialog');
    await dialog.getByRole('button', { name: 'Delete connector and attachments' }).click();
    await page.getByRole('heading', { name: 'Connectors' }).waitFor();
    assert.equal((await server.rest('GET', `/connectors/${used.id}`)).status, 404);
    assert.equal(((await server.rest('GET', '/agents/agent-x/connectors')).json() as { data: unknown[] }).data.length, 0);
    await guard.assertClean();
  });

  it('shows a member no write controls', async (t) => {
    if (!requireBrowser(t)) return;
    const server = await startServer(t);
    if (!server) return;
    const secret = sentinel();
    await connector(server, 'read-only', { ...pg, password: secret });
    assert.equal((await server.rest('POST', '/agents', { id: 'agent-m' })).status, 201);
    const member = await server.ctx.user('member', { org: server.admin.orgSlug });

    const { page, guard } = await openBrowser(t, [secret, member.key]);
    await signIn(page, server.origin, member.key);
    await page.getByRole('link', { name: 'read-only' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'New connector' }).count(), 0);
    await page.getByRole('link', { name: 'read-only' }).click();
    await page.getByRole('heading', { name: 'read-only' }).waitFor();
    for (const name of ['Test connection', 'Save', 'Delete', 'Replace', 'Remove']) {
      assert.equal(await page.getByRole('button', { name, exact: true }).count(), 0, `no ${name} for a member`);
    }
    assert.ok(await page.getByLabel('Host').isDisabled());
    await guard.assertAccessible('connector as member');
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByRole('link', { name: 'agent-m' }).click();
    await page.getByRole('heading', { name: 'Attachments' }).waitFor();
    for (const name of ['Attach', 'Issue token', 'Create agent']) assert.equal(await page.getByRole('button', { name }).count(), 0, `no ${name} for a member`);
    await page.getByRole('link', { name: 'Members' }).click();
    await page.getByRole('row').nth(1).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Invite' }).count(), 0);
    await guard.assertClean();
  });

  it('reaches Test from the list with the keyboard alone', async (t) => {
    if (!requireBrowser(t) || !(await requireServer(t, 'postgresql'))) return;
    const server = await startServer(t);
    if (!server) return;
    await connector(server, 'keyboard', pg);
    const { page, guard } = await openBrowser(t);
    await signIn(page, server.origin, server.admin.key);
    await page.getByRole('link', { name: 'keyboard' }).waitFor();

    const focusedText = () => page.evaluate(() => document.activeElement?.textContent?.trim() ?? '');
    const tabTo = async (text: string) => {
      for (let i = 0; i < 60; i++) {
        await page.keyboard.press('Tab');
        if ((await focusedText()) === text) return;
      }
      assert.fail(`Tab never reached ${text}`);
    };
    await tabTo('keyboard');
    await page.keyboard.press('Enter');
    await page.getByRole('heading', { name: 'keyboard' }).waitFor();
    await tabTo('Test connection');
    await page.keyboard.press('Enter');
    await page.getByRole('status').getByText('Connection succeeded').waitFor();
    await guard.assertClean();
  });
});
