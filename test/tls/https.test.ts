import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { healthSetup, pgAt } from '../services/health/support.js';
import { servePatchbay } from '../support/cli.js';
import { client, ok } from '../support/http.js';
import { openHarness } from '../support/harness.js';
import { requireReady } from '../support/server-processes.js';
import { makePki, startHttpsPeer, type HttpsPeer } from '../support/tls.js';

// One HTTPS server with a certificate from a CA made for the run: the TLS paths of rest, graphql and soap
// through the harness's connection test, and of webhook deliveries, which trust the system roots only.
const pki = makePki();
const peer = 'missing' in pki ? pki : await startHttpsPeer(pki);
after(async () => {
  if (!('missing' in peer)) await peer.stop();
  if (!('missing' in pki)) pki.remove();
});

function ready(t: TestContext): HttpsPeer | undefined {
  if (!requireReady(t, pki) || !requireReady(t, peer)) return undefined;
  return peer;
}

const families: { provider: string; config: (origin: string) => Record<string, unknown> }[] = [
  { provider: 'rest', config: (origin) => ({ base_url: `${origin}/api` }) },
  { provider: 'graphql', config: (origin) => ({ endpoint: `${origin}/graphql` }) },
  { provider: 'soap', config: (origin) => ({ wsdl_url: `${origin}/wsdl` }) },
];

for (const { provider, config } of families) {
  describe(`${provider} over HTTPS (private server)`, () => {
    test('tls_ca of the server certificate authority connects', async (t) => {
      const server = ready(t);
      if (!server || 'missing' in pki) return;
      const result = await openHarness(t).test(provider, { ...config(server.url), tls_ca: pki.ca });
      assert.equal(result.success, true, result.message);
    });

    test('an authority that did not sign the server certificate: tls_error, no request reaches the server', async (t) => {
      const server = ready(t);
      if (!server || 'missing' in pki) return;
      const before = server.requests;
      for (const tls of [{ tls_ca: pki.otherCa }, {}]) {
        const result = await openHarness(t).test(provider, { ...config(server.url), ...tls });
        assert.equal(result.success, false);
        assert.equal(result.error_code, 'tls_error', result.message);
      }
      assert.equal(server.requests, before);
    });

    test('tls_reject_unauthorized false connects to a server it cannot verify', async (t) => {
      const server = ready(t);
      if (!server || 'missing' in pki) return;
      const result = await openHarness(t).test(provider, { ...config(server.url), tls_ca: pki.otherCa, tls_reject_unauthorized: false });
      assert.equal(result.success, true, result.message);
    });

    test('a host name the certificate does not name: tls_error', async (t) => {
      const server = ready(t);
      if (!server || 'missing' in pki) return;
      // The certificate names IP:127.0.0.1 only; `localhost` reaches the same server under another name.
      const result = await openHarness(t).test(provider, { ...config(`https://localhost:${server.port}`), tls_ca: pki.ca });
      assert.equal(result.success, false);
      assert.equal(result.error_code, 'tls_error', result.message);
      assert.match(result.message, /localhost/);
    });
  });
}

describe('webhook deliveries over HTTPS', () => {
  test('a receiver whose certificate the system roots do not know gets nothing; the attempt records the TLS failure', async (t) => {
    const server = ready(t);
    if (!server) return;
    const setup = await healthSetup(t, { dialect: 'sqlite', follow: true });
    assert.ok(setup, 'sqlite needs no server');
    const { ctx, admin, services } = setup;
    const asAdmin = client(ctx.app, admin.key);
    const secret = 'whsec-tls-test-secret-0001';
    const hook = ok<{ id: string }>(await asAdmin('POST', '/webhooks', { url: `${server.url}/hook`, events: ['connector.deleted'], secret }), 201);
    const connector = ok<{ id: string }>(
      await asAdmin('POST', '/connectors', { name: 'c', connector_type: 'database', provider: 'postgresql', config: pgAt(5432) }),
      201,
    );
    assert.equal((await asAdmin('DELETE', `/connectors/${connector.id}`)).statusCode, 204);
    const before = server.requests;
    assert.equal(await services.webhooks.dispatchDue(), 1);
    const [delivery] = ok<{ data: { status: string; last_error: string | null }[] }>(await asAdmin('GET', `/webhooks/${hook.id}/deliveries`)).data;
    assert.equal(delivery?.status, 'pending', 'retried later, as any failed attempt');
    assert.match(delivery?.last_error ?? '', /^TLS failed \(/);
    assert.equal(server.requests, before);
  });

  test('a receiver under a private authority is reached when the operator adds it with NODE_EXTRA_CA_CERTS', async (t) => {
    const server = ready(t);
    if (!server || 'missing' in pki) return;
    const cwd = mkdtempSync(path.join(os.tmpdir(), 'patchbay-webhook-tls-'));
    t.after(() => rmSync(cwd, { recursive: true, force: true }));
    const served = await servePatchbay({ NODE_EXTRA_CA_CERTS: pki.caFile }, cwd);
    t.after(async () => {
      served.child.kill('SIGTERM');
      await served.exited;
    });
    const key = /Initial admin API key, shown once: (pbk_\S+)/.exec(served.output().stdout)?.[1];
    assert.ok(key, served.output().stdout);
    const api = async (method: string, url: string, body?: unknown) => {
      const response = await fetch(`http://127.0.0.1:${served.port}/api/v1${url}`, {
        method,
        headers: { authorization: `Bearer ${key}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: response.status, body: (await response.text()) || '{}' };
    };
    const hook = await api('POST', '/webhooks', { url: `${server.url}/trusted-hook`, events: ['connector.deleted'], secret: 'whsec-tls-test-secret-0002' });
    assert.equal(hook.status, 201, hook.body);
    const created = await api('POST', '/connectors', { name: 'c', connector_type: 'database', provider: 'postgresql', config: pgAt(5432) });
    assert.equal(created.status, 201, created.body);
    assert.equal((await api('DELETE', `/connectors/${(JSON.parse(created.body) as { id: string }).id}`)).status, 204);

    // The server's scheduler dispatches due deliveries every half second.
    const deadline = Date.now() + 30_000;
    while (!server.received.includes('POST /trusted-hook') && Date.now() < deadline) await sleep(100);
    assert.ok(server.received.includes('POST /trusted-hook'), `the delivery arrived over TLS: ${served.output().stderr}`);
  });
});
