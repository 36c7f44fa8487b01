import assert from 'node:assert/strict';
import { after, describe, test, type TestContext } from 'node:test';
import { openHarness } from '../support/harness.js';
import { requireReady, type Missing } from '../support/server-processes.js';
import { makePki, startTlsMosquitto, startTlsNats, startTlsRedis, type TlsServer } from '../support/tls.js';

// Private Redis, Mosquitto and NATS servers that speak only TLS: the TLS paths of redis, redis_pubsub, mqtt and
// nats through the harness's connection test, so each failure goes through the error mapping a user sees.
const pki = makePki();
const started = async (start: (p: Exclude<typeof pki, Missing>) => Promise<TlsServer | Missing>) =>
  'missing' in pki ? pki : start(pki);
const redis = await started(startTlsRedis);
const mosquitto = await started(startTlsMosquitto);
const nats = await started(startTlsNats);
after(async () => {
  for (const server of [redis, mosquitto, nats]) if (!('missing' in server)) await server.stop();
  if (!('missing' in pki)) pki.remove();
});

interface Family {
  provider: string;
  server: TlsServer | Missing;
  /** The config that reaches `server` at `host` over TLS, without any tls_* field. */
  config: (server: TlsServer, host: string) => Record<string, unknown>;
}

const families: Family[] = [
  { provider: 'redis', server: redis, config: (s, host) => ({ host, port: s.port, tls: true }) },
  { provider: 'redis_pubsub', server: redis, config: (s, host) => ({ host, port: s.port, tls: true }) },
  { provider: 'mqtt', server: mosquitto, config: (s, host) => ({ host, port: s.port, tls: true }) },
  { provider: 'nats', server: nats, config: (s, host) => ({ servers: [`tls://${host}:${s.port}`] }) },
];

function ready(t: TestContext, server: TlsServer | Missing): server is TlsServer {
  return requireReady(t, pki) && requireReady(t, server);
}

for (const { provider, server, config } of families) {
  describe(`${provider} over TLS (private server)`, () => {
    test('tls with tls_ca of the server certificate authority connects', async (t) => {
      if (!ready(t, server) || 'missing' in pki) return;
      const result = await openHarness(t).test(provider, { ...config(server, '127.0.0.1'), tls_ca: pki.ca });
      assert.equal(result.success, true, result.message);
    });

    test('an authority that did not sign the server certificate: tls_error', async (t) => {
      if (!ready(t, server) || 'missing' in pki) return;
      const result = await openHarness(t).test(provider, { ...config(server, '127.0.0.1'), tls_ca: pki.otherCa });
      assert.equal(result.success, false);
      assert.equal(result.error_code, 'tls_error', result.message);
    });

    test('tls_reject_unauthorized false connects to a server it cannot verify', async (t) => {
      if (!ready(t, server) || 'missing' in pki) return;
      const result = await openHarness(t).test(provider, {
        ...config(server, '127.0.0.1'),
        tls_ca: pki.otherCa,
        tls_reject_unauthorized: false,
      });
      assert.equal(result.success, true, result.message);
    });

    test('a host name the certificate does not name: tls_error', async (t) => {
      if (!ready(t, server) || 'missing' in pki) return;
      // The certificate names IP:127.0.0.1 only; `localhost` reaches the same server under another name.
      const result = await openHarness(t).test(provider, { ...config(server, 'localhost'), tls_ca: pki.ca });
      assert.equal(result.success, false);
      assert.equal(result.error_code, 'tls_error', result.message);
      assert.match(result.message, /localhost/);
    });
  });
}

describe('mqtt with mutual TLS (a Mosquitto listener with require_certificate)', () => {
  test('the client certificate signed by the authority is accepted', async (t) => {
    if (!ready(t, mosquitto) || 'missing' in pki) return;
    const result = await openHarness(t).test('mqtt', {
      host: '127.0.0.1',
      port: mosquitto.mtlsPort,
      tls: true,
      tls_ca: pki.ca,
      tls_cert: pki.clientCert,
      tls_key: pki.clientKey,
    });
    assert.equal(result.success, true, result.message);
  });

  test('without a client certificate the broker refuses the handshake', async (t) => {
    if (!ready(t, mosquitto) || 'missing' in pki) return;
    const result = await openHarness(t).test('mqtt', { host: '127.0.0.1', port: mosquitto.mtlsPort, tls: true, tls_ca: pki.ca });
    assert.equal(result.success, false);
    assert.equal(result.error_code, 'tls_error', result.message);
  });
});
