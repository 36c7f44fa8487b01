import assert from 'node:assert/strict';
import { describe, test, type TestContext } from 'node:test';
import { EgressGuard } from '../../src/net/egress.js';
import { HttpClient } from '../../src/net/http-client.js';
import { failureSummary, networkFailure } from '../../src/net/network-errors.js';
import { closedPort, plaintextListener, silentListener } from '../support/listeners.js';

/** The error a real POST to `url` fails with. */
async function failureOf(t: TestContext, url: string, options: { policy?: 'public' | 'any'; timeoutMs?: number } = {}) {
  const client = new HttpClient(new EgressGuard(options.policy ?? 'any'), { keepAlive: false });
  t.after(() => client.close());
  const request = { method: 'POST', url: new URL(url), headers: { 'content-type': 'application/json' }, body: '{}' };
  const error = await client.send(request, { maxBytes: 0, timeoutMs: options.timeoutMs ?? 5_000 }).then(
    () => assert.fail('the request succeeded'),
    (failed: unknown) => failed,
  );
  const failure = networkFailure(error);
  assert.ok(failure, `no rule for ${String(error)}`);
  return { error, failure };
}

describe('network rules on real failures: one code, a summary, and the summary with where or why', () => {
  test('nothing listening: connection_refused; the address dialled only in the message', async (t) => {
    const port = await closedPort();
    const { error, failure } = await failureOf(t, `http://127.0.0.1:${port}/hook`);
    assert.deepEqual(failure, { code: 'connection_refused', summary: 'connection refused', message: `connection refused: 127.0.0.1:${port}` });
    assert.equal(failureSummary(error), 'connection refused');
  });

  test('TLS to a plaintext server: tls_error, the summary naming the TLS code', async (t) => {
    const { port } = await plaintextListener(t);
    const { failure } = await failureOf(t, `https://127.0.0.1:${port}/hook`);
    assert.equal(failure.code, 'tls_error');
    assert.match(failure.summary, /^TLS failed \([A-Z_]+\)$/);
    assert.ok(failure.message.startsWith(`${failure.summary}: `), failure.message);
  });

  test("a peer that never answers: timeout at the client's time limit, the request only in the message", async (t) => {
    const { port } = await silentListener(t);
    const { failure } = await failureOf(t, `http://127.0.0.1:${port}/hook/path`, { timeoutMs: 200 });
    assert.deepEqual(failure, { code: 'timeout', summary: 'no answer within 200 ms', message: 'no answer within 200 ms: POST /hook/path' });
  });

  test('a destination outside the egress policy: egress_denied with the refusal as it is', async (t) => {
    const port = await closedPort();
    const { error, failure } = await failureOf(t, `http://127.0.0.1:${port}/hook`, { policy: 'public' });
    assert.equal(failure.code, 'egress_denied');
    assert.match(failure.summary, /^egress denied: 127\.0\.0\.1 is a private or loopback address/);
    assert.equal(failure.message, failure.summary);
    assert.equal(failureSummary(error), failure.summary);
  });

  test('an error no rule knows: no failure, and a summary that names its code but never quotes it', () => {
    const unknown = Object.assign(new Error('secret-bearing driver text'), { code: 'EWHATEVER' });
    assert.equal(networkFailure(unknown), undefined);
    assert.equal(failureSummary(unknown), 'request failed (EWHATEVER)');
    assert.equal(failureSummary(new Error('secret-bearing driver text')), 'request failed');
  });

  test('a cause or an AggregateError part is recognised too', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:5432'), { code: 'ECONNREFUSED', address: '10.0.0.1', port: 5432 });
    const wrapped = new Error('driver failed', { cause: new AggregateError([new Error('first'), refused]) });
    assert.deepEqual(networkFailure(wrapped), { code: 'connection_refused', summary: 'connection refused', message: 'connection refused: 10.0.0.1:5432' });
  });
});
