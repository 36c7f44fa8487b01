import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import type { ErrorCode } from '../../../src/errors.js';
import { closedPort, plaintextListener, silentListener } from '../../support/listeners.js';
import type { Run, Suite } from './context.js';
import type { Call, Config } from './fixture.js';

/** connect_timeout_ms the timeout block sets: short, so the suite stays fast. */
const SHORT_CONNECT_TIMEOUT_MS = 500;
/**
 * A generous bound on how long a timed-out call may take. It only shows the deadline is enforced at all;
 * how close to the deadline the answer comes (the +10% figure) is measured by the benchmark, not here.
 */
const TIMEOUT_BOUND_MS = SHORT_CONNECT_TIMEOUT_MS + 2_500;

/**
 * The connection test and the failures every network provider must name the same way (DESIGN.md section 8).
 * Each failure is checked on both paths a user meets: `test()` (a one-shot session) and an execute (the pool).
 */
export function describeConnection(suite: Suite): void {
  const { fixture } = suite;

  suite.capability(
    'connection test',
    fixture.connectionTest,
    ({ message }) => {
      suite.it('test() succeeds against the peer, with an integer latency_ms >= 0', { peer: true }, async (run) => {
        const result = await run.test(fixture.config);
        assert.equal(result.success, true, `${result.error_code}: ${result.message}`);
        assert.equal(result.error_code, undefined);
        assert.ok(Number.isInteger(result.latency_ms) && result.latency_ms >= 0, `latency_ms ${result.latency_ms}`);
        assert.ok(result.message.length > 0, 'a success carries a short detail');
        if (message) assert.match(result.message, message);
      });
    },
    {},
  );

  suite.capability('auth_failed', fixture.auth, ({ configs }) => {
    assert.ok(configs.length > 0, 'auth.configs is empty');
    configs.forEach((config, index) => {
      suite.it(`wrong credentials (auth config ${index + 1}): auth_failed`, { peer: true }, async (run) => {
        await expectCode(run, config, fixture.probe, 'auth_failed');
      });
    });
  });

  suite.capability(
    'connection_refused',
    fixture.refused,
    () => {
      suite.it('a closed port: connection_refused', { peer: false }, async (run) => {
        const config = suite.at('refused')({ host: '127.0.0.1', port: await closedPort() });
        await expectCode(run, config, fixture.probe, 'connection_refused');
      });
    },
    {},
  );

  suite.capability(
    'dns_not_found',
    fixture.dns,
    () => {
      // .invalid never resolves (RFC 6761), so no resolver can make this test pass by accident.
      suite.it('an unknown host (nohost.invalid): dns_not_found', { peer: false }, async (run) => {
        const config = suite.at('dns')({ host: 'nohost.invalid', port: await closedPort() });
        await expectCode(run, config, fixture.probe, 'dns_not_found');
      });
    },
    {},
  );

  suite.capability(
    'timeout',
    fixture.timeout,
    () => {
      suite.it(`a listener that never answers: timeout, within ${TIMEOUT_BOUND_MS} ms`, { peer: false }, async (run, t) => {
        const { host, port } = await silentListener(t);
        const address = { host, port };
        const config = { ...suite.at('timeout')(address), connect_timeout_ms: SHORT_CONNECT_TIMEOUT_MS };
        for (const path of ['test', 'execute'] as const) {
          const started = performance.now();
          const code =
            path === 'test' ? (await run.test(config)).error_code : (await run.failure(run.execute(config, fixture.probe))).code;
          const elapsed = performance.now() - started;
          assert.equal(code, 'timeout', path);
          assert.ok(elapsed < TIMEOUT_BOUND_MS, `${path} took ${Math.round(elapsed)} ms`);
        }
      });
    },
    {},
  );

  suite.capability('tls_error', fixture.tls, ({ config }) => {
    suite.it('TLS to a plaintext port: tls_error', { peer: true }, async (run, t) => {
      const { host, port } = await plaintextListener(t);
      const result = await run.test(config({ host, port }));
      assert.equal(result.error_code, 'tls_error', result.message);
    });
  });

  suite.capability(
    'egress',
    fixture.egress,
    () => {
      // The fixture's peer is on loopback: refused under `public` only if every socket goes through the guard.
      suite.it('under PATCHBAY_EGRESS=public the loopback peer is refused: egress_denied', { peer: false }, async (run) => {
        const result = await run.test(fixture.config, run.harness({ egress: 'public' }));
        assert.equal(result.error_code, 'egress_denied', result.message);
        const error = await run.failure(
          run.execute(fixture.config, fixture.probe, { harness: run.harness({ egress: 'public' }) }),
        );
        assert.equal(error.code, 'egress_denied');
      });
    },
    {},
  );
}

/** `test()` answers `code` (never a throw), and so does an execute of the probe on a pooled session. */
async function expectCode(run: Run, config: Config, probe: Call, code: ErrorCode): Promise<void> {
  const result = await run.test(config);
  assert.equal(result.success, false);
  assert.equal(result.error_code, code, `test(): ${result.message}`);
  assert.ok(Number.isInteger(result.latency_ms) && result.latency_ms >= 0);
  const error = await run.failure(run.execute(config, probe));
  assert.equal(error.code, code, `execute: ${error.message}`);
}
