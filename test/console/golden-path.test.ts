import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { openBrowser, requireBrowser, sentinel, signIn, startServer } from './browser.js';

describe('console golden path', () => {
  it('signs in, creates a PostgreSQL connector, tests it, attaches it to an agent and issues a token shown once', async (t) => {
    if (!requireBrowser(t)) return;
    const server = await startServer(t);
    if (!server) return;
    const secret = sentinel();
    const { page, guard } = await openBrowser(t, [secret, server.admin.key]);
    const { origin } = server;

    await page.goto(`${origin}/`);
    await page.waitForURL(`${origin}/console/login`);
    await guard.assertAccessible('login');
    await signIn(page, origin, server.admin.key);
    await guard.assertAccessible('connectors (empty)');

    await page.getByRole('button', { name: 'New connector' }).click();
    await page.getByLabel('Provider').selectOption('postgresql');
    await page.getByLabel('Name', { exact: true }).fill('orders-db');
    await page.getByLabel('Host').fill('127.0.0.1');
    await page.getByLabel('Port').fill('5432');
    await page.getByLabel('Database', { exact: true }).fill('test');
    await page.getByLabel('Username').fill('postgres');
    // PostgreSQL here trusts loopback: the password is never checked, only stored (and never shown again).
    await page.getByLabel('Password', { exact: true }).fill(secret);
    await guard.assertAccessible('new connector');
    await page.getByRole('button', { name: 'Save and test' }).click();

    const status = page.getByRole('status').filter({ hasText: 'Connection' });
    await status.getByText('Connection succeeded').waitFor();
    await page.getByRole('heading', { name: 'orders-db' }).waitFor();
    assert.match(await status.innerText(), /Latency \d+ ms/);
    await page.getByText('configured').first().waitFor();
    await guard.assertAccessible('connector detail');

    // Attach to a new agent, then issue a token.
    await page.getByRole('link', { name: 'Agents' }).click();
    await page.getByLabel('Agent ID').fill('agent-orders');
    await page.getByRole('button', { name: 'Create agent' }).click();
    await page.getByRole('link', { name: 'agent-orders' }).click();
    await page.getByLabel('Alias').fill('orders');
    await page.getByRole('button', { name: 'Attach' }).click();
    await page.getByRole('cell', { name: 'orders', exact: true }).waitFor();
    await guard.assertAccessible('agent');

    // Edit the attachment: a new alias and a rate limit; only what changed is sent.
    await page.getByRole('button', { name: 'Edit orders' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit orders' });
    await edit.getByLabel('Alias').fill('orders_main');
    await edit.getByLabel('Calls per minute').fill('120');
    await guard.assertAccessible('edit attachment');
    await edit.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('cell', { name: 'orders_main', exact: true }).waitFor();
    await page.getByText('120/min').waitFor();

    await page.getByRole('button', { name: 'Issue token' }).click();
    const dialog = page.getByRole('dialog', { name: 'New agent token' });
    const token = await dialog.getByLabel('Value').inputValue();
    assert.match(token, /^pbt_/);
    await dialog.getByRole('button', { name: 'Copy' }).click();
    await guard.assertAccessible('token dialog');
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    const html = await page.content();
    assert.ok(!html.includes(token), 'the token is gone once its dialog closed');
    await page.getByText(token.slice(0, 12)).waitFor();

    // The API agrees: one attachment, one token.
    const attachments = server.rest('GET', '/agents/agent-orders/connectors');
    const listed = ((await attachments).json() as { data: { alias: string; limits: Record<string, number> }[] }).data;
    assert.deepEqual(
      listed.map((a) => [a.alias, a.limits.rate_per_minute]),
      [['orders_main', 120]],
    );
    await guard.assertClean();
  });
});
