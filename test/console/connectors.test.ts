import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { closedPort } from '../support/listeners.js';
import { requireServer } from '../support/servers.js';
import { openBrowser, requireBrowser, sentinel, signIn, startServer, type ConsoleServer } from './browser.js';

const pg = { host: '127.0.0.1', port: 5432, database: 'test', username: 'postgres' };

async function connector(server: ConsoleServer, name: string, config: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const response = await server.rest('POST', '/connectors', { name, connector_type: 'database', provider: 'postgresql', config, ...extra });
  assert.equal(response.status, 201, response.body);
  return response.json() as { id: string; version: number };
}

describe('console: connectors', () => {
  it('signs in and out with an HttpOnly __Host- cookie, and refuses a wrong key', async (t) => {
    if (!requireBrowser(t)) return;
    const server = await startServer(t);
    if (!server) return;
    const { page, guard, context } = await openBrowser(t, [server.admin.key]);
    await page.goto(`${server.origin}/console/`);
    await page.getByLabel('API key').fill('pbk_' + 'x'.repeat(43));
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').getByText('unknown, revoked or expired').waitFor();
    assert.equal(await page.getByLabel('API key').inputValue(), '', 'a refused key does not linger in the input');

    await signIn(page, server.origin, server.admin.key);
    const cookies = await context.cookies();
    assert.deepEqual(
      cookies.map((c) => [c.name, c.httpOnly, c.secure, c.sameSite, c.path]),
      [['__Host-patchbay_session', true, true, 'Strict', '/']],
    );
    assert.equal(await page.evaluate(() => document.cookie), '', 'JavaScript holds no credential');

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    assert.deepEqual(await context.cookies(), []);
    // The session is gone on the server too.
    const me = await page.evaluate(async () => (await fetch('/api/v1/me')).status);
    assert.equal(me, 401);
    await guard.assertClean();
  });

  it('shows the four statuses by icon and word, filters in the URL, and loads more by cursor', async (t) => {
    if (!requireBrowser(t) || !(await requireServer(t, 'postgresql'))) return;
    const server = await startServer(t);
    if (!server) return;
    const secret = sentinel();
    const healthy = await connector(server, 'a-healthy', { ...pg, password: secret });
    const failing = await connector(server, 'b-failing', { ...pg, port: await closedPort() });
    await connector(server, 'c-untested', pg);
    await connector(server, 'd-disabled', pg, { enabled: false });
    for (let i = 0; i < 26; i++) await connector(server, `z-filler-${String(i).padStart(2, '0')}`, pg);
    assert.equal((await server.rest('POST', `/connectors/${healthy.id}/test`)).status, 200);
    assert.equal((await server.rest('POST', `/connectors/${failing.id}/test`)).status, 200);

    const { page, guard } = await openBrowser(t, [secret]);
    await signIn(page, server.origin, server.admin.key);
    const row = (name: string) => page.getByRole('row').filter({ has: page.getByRole('link', { name, exact: true }) });
    for (const [name, status] of [['a-healthy', 'healthy'], ['b-failing', 'failing'], ['c-untested', 'untested'], ['d-disabled', 'disabled']] as const) {
      // Icon and word, never colour alone.
      const badge = row(name).locator(`[data-status="${status}"]`);
      await badge.waitFor();
      assert.equal((await badge.innerText()).trim(), status);
      assert.equal(await badge.locator(`svg[data-icon="${status}"]`).count(), 1);
    }
    assert.match(await row('a-healthy').innerText(), /1 recent checks, 0 failed/);
    assert.match(await row('b-failing').innerText(), /1 recent checks, 1 failed/);
    await guard.assertAccessible('connectors');

    // 30 connectors, 25 a page.
    assert.equal(await page.getByRole('link', { name: /^z-filler-/ }).count(), 21);
    await page.getByRole('button', { name: 'Load more' }).click();
    await page.getByRole('link', { name: 'z-filler-25' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Load more' }).count(), 0);

    await page.getByLabel('Status').selectOption('failing');
    await page.waitForURL(/\?status=failing$/);
    await page.getByRole('link', { name: 'a-healthy' }).waitFor({ state: 'detached' });
    await page.getByRole('link', { name: 'b-failing' }).waitFor();
    assert.deepEqual(await page.getByRole('table').getByRole('link').allInnerTexts(), ['b-failing']);
    // The filter survives a reload: it lives in the URL.
    await page.reload();
    assert.equal(await page.getByLabel('Status').inputValue(), 'failing');
    await page.getByRole('link', { name: 'b-failing' }).waitFor();
    await guard.assertClean();
  });

  it('creates a connector: inline and server errors on their fields, an unsaved test with an error_code, Save', async (t) => {
    if (!requireBrowser(t)) return;
    const server = await startServer(t);
    if (!server) return;
    const secret = sentinel();
    const { page, guard } = await openBrowser(t, [secret]);
    await signIn(page, server.origin, server.admin.key);
    await page.getByRole('button', { name: 'New connector' }).click();
    await page.getByLabel('Provider').selectOption('postgresql');

    // Inline: the name is required and the port must be a number; the summary names both, each field its own.
    await page.getByLabel('Port').fill('five');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    const summary = page.getByRole('alert').filter({ hasText: 'Please correct' });
    await summary.getByRole('link', { name: /Name: required/ }).waitFor();
    await summary.getByRole('link', { name: /Port: must be a whole number/ }).waitFor();
    assert.equal(await page.getByLabel('Port').getAttribute('aria-invalid'), 'true');
    assert.match((await page.getByLabel('Port').getAttribute('aria-describedby')) ?? '', /field-port-error/);
    await guard.assertAccessible('form with errors');

    // Server: a port out of range passes the browser's check and comes back as a 422 on its field.
    await page.getByLabel('Name', { exact: true }).fill('new-db');
    await page.getByLabel('Port').fill('99999');
    await page.getByLabel('Host').fill('127.0.0.1');
    await page.getByLabel('Username').fill('postgres');
    await page.getByLabel('Password', { exact: true }).fill(secret);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.locator('#field-port-error').waitFor();
    assert.equal(await page.getByLabel('Port').getAttribute('aria-invalid'), 'true');

    // An unsaved test against a closed port: the result region shows the error code.
    await page.getByLabel('Port').fill(String(await closedPort()));
    await page.getByRole('button', { name: 'Test connection' }).click();
    const status = page.getByRole('status').filter({ hasText: 'Connection' });
    await status.getByText('Connection failed: connection_refused').waitFor();
    assert.equal(await page.locator('#field-port-error').count(), 0, 'the field error cleared');

    await page.getByLabel('Port').fill('5432');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('heading', { name: 'new-db' }).waitFor();
    const list = (await server.rest('GET', '/connectors')).json() as { data: { name: string; config: Record<string, unknown> }[] };
    assert.deepEqual(list.data.map((c) => [c.name, c.config.port, c.config.password]), [['new-db', 5432, '********']]);
    await guard.assertClean();
  });

  it('edits with only the changed fields, replaces and removes a secret, and keeps input on a stale edit', async (t) => {
    if (!requireBrowser(t)) return;
    const server = await startServer(t);
    if (!server) return;
    const [first, second] = [sentinel(), sentinel()];
    const saved = await connector(server, 'edited', { ...pg, password: first });
    const { page, guard } = await openBrowser(t, [first, second]);
    const bodies: unknown[] = [];
    page.on('request', (request) => {
      if (request.method() === 'PUT') bodies.push(request.postDataJSON());
    });
    await signIn(page, server.origin, server.admin.key);
    await page.goto(`${server.origin}/console/o/${server.admin.orgSlug}/connectors/${saved.id}`);
    await page.getByRole('group', { name: 'Password' }).getByText('configured').waitFor();
    assert.equal(await page.locator('input[name="password"]').count(), 0, 'no input holds the stored secret');

    await page.getByLabel('Database', { exact: true }).fill('postgres');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Saved.').waitFor();
    assert.deepEqual(bodies.at(-1), { config: { database: 'postgres' } });

    await page.getByRole('button', { name: 'Replace' }).click();
    const password = page.locator('input[name="password"]');
    assert.equal(await password.inputValue(), '');
    assert.equal(await password.getAttribute('autocomplete'), 'new-password');
    await password.fill(second);
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('group', { name: 'Password' }).getByText('configured').waitFor();
    assert.deepEqual(bodies.at(-1), { config: { password: second } });

    await page.getByRole('button', { name: 'Remove' }).click();
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByText('Saved.').waitFor();
    assert.deepEqual(bodies.at(-1), { config: { password: null } });
    const stored = (await server.rest('GET', `/connectors/${saved.id}`)).json() as { config: Record<string, unknown>; version: number };
    assert.equal(stored.config.password, undefined);
    assert.equal(stored.config.database, 'postgres');
    await guard.assertAccessible('connector detail');

    // Someone else saves meanwhile: our Save answers 409 and our input stays.
    assert.equal((await server.rest('PUT', `/connectors/${saved.id}`, { description: 'changed elsewhere' })).status, 200);
    await page.getByLabel('Username').fill('someone_else');
    await page.getByRole('button', { name: 'Save', exact: true }).click();
    await page.getByRole('alert').getByText('Someone changed this connector').waitFor();
    assert.equal(await page.getByLabel('Username').inputValue(), 'someone_else');
    assert.equal(((await server.rest('GET', `/connectors/${saved.id}`)).json() as { config: Record<string, unknown> }).config.username, 'postgres');
    await guard.assertClean();
  });
});
