import type { TestContext } from 'node:test';
import pino from 'pino';
import { ProviderHarness, type HarnessOptions } from '../../src/providers/harness.js';

/**
 * A ProviderHarness as the server builds one for the tests: egress `private` (loopback allowed), two connections
 * a session, sessions idle for a minute before they close, SQLite paths under the working folder, a silent
 * logger. `options` replace any of these (a logger that records, the test's own providers).
 */
export function newHarness(options: Partial<HarnessOptions> = {}): ProviderHarness {
  return new ProviderHarness({
    egress: 'private',
    poolMax: 2,
    poolIdleMs: 60_000,
    sqliteRoot: '.',
    logger: pino({ level: 'silent' }),
    ...options,
  });
}

/** `newHarness(options)`, closed after the test. */
export function openHarness(t: TestContext, options: Partial<HarnessOptions> = {}): ProviderHarness {
  const harness = newHarness(options);
  t.after(() => harness.close());
  return harness;
}
