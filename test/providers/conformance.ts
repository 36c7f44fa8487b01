import { after, describe, type TestContext } from 'node:test';
import type { ProviderHarness } from '../../src/providers/harness.js';
import type { Provider } from '../../src/providers/types.js';
import { describeConnection } from './conformance/connection.js';
import { Run, Suite } from './conformance/context.js';
import type { Config, Peer, ProviderFixture } from './conformance/fixture.js';
import { describeOperations } from './conformance/operations.js';
import { describeSchema } from './conformance/schema.js';
import { describeSecrets } from './conformance/secrets.js';
import { describeSessions } from './conformance/sessions.js';

/**
 * The provider conformance suite (STYLE.md section 5). A provider's test file is a fixture, one call and its
 * own cases:
 *
 * ```ts
 * describeProvider(redis, {
 *   config: { host: '127.0.0.1', port: 6379 },
 *   ready: (t) => requireServer(t, 'redis'),
 *   at: ({ host, port }) => ({ host, port }),
 *   probe: { input: { command: ['PING'] } },
 *   schema: { bad: [{ config: { host: '127.0.0.1', db: 16 }, path: 'db' }] },
 *   auth: { configs: [{ host: '127.0.0.1', username: 'pb_acl_user', password: 'wrong-password' }] },
 *   tls: off('the local Redis has no TLS port'),
 *   …
 * });
 * ```
 *
 * Every call goes through a real ProviderHarness, as the app makes it, with egress `private` (loopback
 * allowed), on an instrumented copy of the provider that counts connects and closes and records the sockets
 * it dials. `PROVIDERS="postgresql redis"` narrows a run to those providers.
 */
export function describeProvider(provider: Provider, fixture: ProviderFixture): void {
  const only = process.env.PROVIDERS?.split(/[\s,]+/).filter(Boolean);
  const skip = only && only.length > 0 && !only.includes(provider.id) ? `PROVIDERS=${process.env.PROVIDERS}` : undefined;
  describe(`${provider.id} conformance`, { skip }, () => {
    const suite = new Suite(provider, fixture);
    after(() => suite.teardown());
    describeSchema(suite);
    describeConnection(suite);
    describeSecrets(suite);
    describeOperations(suite);
    describeSessions(suite);
  });
}

/**
 * A pooled session for a provider file's own cases: a harness as the suite builds one (egress `private`),
 * closed after the test, and a Peer on `config` whose calls share one pool key. `failure()` gives the
 * PatchbayError a call fails with.
 */
export function openPeer(
  t: TestContext,
  provider: Provider,
  config: Config,
  options: Pick<ProviderFixture, 'harness'> = {},
): Peer & { harness: ProviderHarness } {
  const run = new Run(provider, { config, harness: options.harness });
  t.after(async () => {
    await run.close();
    run.assertNoSecretSeen();
  });
  return run.peer();
}

export { errorPaths, expectFailure } from './conformance/context.js';
export { off } from './conformance/fixture.js';
export { sqlDescribeCase } from './conformance/sql.js';
export type {
  BadConfig,
  Call,
  Config,
  Off,
  OperationCase,
  Peer,
  ProviderFixture,
  TruncationCase,
} from './conformance/fixture.js';
