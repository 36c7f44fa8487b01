import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { openHarness } from '../support/harness.js';
import { requireReady } from '../support/server-processes.js';
import { makePki, startTlsPostgres } from '../support/tls.js';

// Private cluster with ssl=on: the TLS paths of the postgresql provider, through the harness's connection test
// so that each failure goes through the error mapping a user sees.
const pki = makePki();
const server = 'missing' in pki ? pki : await startTlsPostgres(pki);
after(async () => {
  if (!('missing' in server)) await server.stop();
  if (!('missing' in pki)) pki.remove();
});

describe('postgresql over TLS (private cluster, ssl=on)', () => {
  const base = () => {
    assert.ok(!('missing' in server));
    return { host: server.host, port: server.port, username: 'postgres', database: 'postgres', ssl: true };
  };

  test('ssl with tls_ca of the server certificate authority connects', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, server)) return;
    const result = await openHarness(t).test('postgresql', { ...base(), tls_ca: pki.ca });
    assert.equal(result.success, true, result.message);
  });

  test('without ssl the server refuses the plaintext connection (pg_hba: hostnossl reject)', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, server)) return;
    const result = await openHarness(t).test('postgresql', { ...base(), ssl: false });
    assert.equal(result.success, false);
    assert.match(result.message, /no encryption|pg_hba/);
  });

  test('an authority that did not sign the server certificate: tls_error', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, server)) return;
    const result = await openHarness(t).test('postgresql', { ...base(), tls_ca: pki.otherCa });
    assert.equal(result.success, false);
    assert.equal(result.error_code, 'tls_error', result.message);
  });

  test('the system roots alone do not know the test authority: tls_error', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, server)) return;
    const result = await openHarness(t).test('postgresql', base());
    assert.equal(result.error_code, 'tls_error', result.message);
  });

  test('tls_reject_unauthorized false connects to a server it cannot verify', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, server)) return;
    const result = await openHarness(t).test('postgresql', { ...base(), tls_ca: pki.otherCa, tls_reject_unauthorized: false });
    assert.equal(result.success, true, result.message);
  });

  test('a host name the certificate does not name: tls_error', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, server)) return;
    // The certificate names IP:127.0.0.1 only; `localhost` reaches the same server under another name.
    const result = await openHarness(t).test('postgresql', { ...base(), host: 'localhost', tls_ca: pki.ca });
    assert.equal(result.error_code, 'tls_error', result.message);
    assert.match(result.message, /localhost/);
  });

  test('mutual TLS: the cert database takes the client certificate', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, server)) return;
    const result = await openHarness(t).test('postgresql', {
      ...base(),
      database: server.certDatabase,
      tls_ca: pki.ca,
      tls_cert: pki.clientCert,
      tls_key: pki.clientKey,
    });
    assert.equal(result.success, true, result.message);
  });

  test('mutual TLS: the cert database refuses a connection without a client certificate', async (t) => {
    if (!requireReady(t, pki) || !requireReady(t, server)) return;
    const result = await openHarness(t).test('postgresql', { ...base(), database: server.certDatabase, tls_ca: pki.ca });
    assert.equal(result.success, false);
    assert.equal(result.error_code, 'auth_failed', result.message);
    assert.match(result.message, /client certificate/);
  });
});
