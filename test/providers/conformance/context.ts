import assert from 'node:assert/strict';
import type net from 'node:net';
import { describe, test, type TestContext } from 'node:test';
import pino from 'pino';
import { PatchbayError } from '../../../src/errors.js';
import { EgressGuard } from '../../../src/net/egress.js';
import {
  poolKey,
  type ExecuteResult,
  type HarnessOptions,
  type ProviderHarness,
  type TestResult,
} from '../../../src/providers/harness.js';
import { getProvider, secretFieldNames } from '../../../src/providers/registry.js';
import type { Provider, Session } from '../../../src/providers/types.js';
import { newHarness } from '../../support/harness.js';
import { uniqueName } from '../../support/names.js';
import { isOff, type Call, type Config, type Off, type Peer, type ProviderFixture } from './fixture.js';

/**
 * The machinery every capability block shares: a Suite per describeProvider call (readiness, setup once,
 * teardown) and a Run per test (its harnesses, what it saw, the sessions and sockets the provider opened).
 */

/** Limits of a call that names none; small enough to notice a provider that ignores them. */
export const DEFAULT_LIMITS = { maxRows: 100, maxBytes: 1_048_576, timeoutMs: 5_000 };

export class Suite {
  private setupDone?: Promise<void>;

  constructor(
    readonly provider: Provider,
    readonly fixture: ProviderFixture,
  ) {}

  /**
   * Registers one capability block. Switched off: a single skipped test carrying the reason. On: `register`
   * gets the fixture's settings (or `defaults` for a capability the suite runs on its own).
   */
  capability<T>(name: string, setting: T | Off | undefined, register: (settings: T) => void, defaults?: T): void {
    describe(name, () => {
      if (isOff(setting)) {
        test(name, { skip: `${name} is off for ${this.provider.id}: ${setting.off}` }, () => undefined);
        return;
      }
      const settings = setting ?? defaults;
      if (settings === undefined)
        throw new Error(`${this.provider.id}: the fixture gives no ${name}; give it or switch it off with off('why')`);
      register(settings);
    });
  }

  /**
   * One test with a fresh Run, closed afterwards. `peer: true` waits for the fixture's `ready` (skipping when
   * the peer is missing) and its one-time `setup`. Every test ends by checking that no secret value of a
   * config it used appears in anything it saw.
   */
  it(name: string, options: { peer: boolean }, body: (run: Run, t: TestContext) => Promise<void>): void {
    test(name, async (t) => {
      if (options.peer && !(await this.ready(t))) return;
      const { config, harness, secrets } = this.fixture;
      const run = new Run(this.provider, { config, harness, secretValues: isOff(secrets) ? [] : secrets.values });
      try {
        await body(run, t);
      } finally {
        await run.close();
      }
      if (!isOff(this.fixture.secrets)) run.assertNoSecretSeen();
    });
  }

  /** The fixture's `at`, or a failure saying which capability needs it. */
  at(capability: string): NonNullable<ProviderFixture['at']> {
    const at = this.fixture.at;
    assert.ok(at, `${this.provider.id}: ${capability} needs fixture.at({host, port}); give it or switch ${capability} off`);
    return at;
  }

  async teardown(): Promise<void> {
    if (this.setupDone === undefined) return;
    await this.setupDone.catch(() => undefined);
    await this.fixture.teardown?.();
  }

  private async ready(t: TestContext): Promise<boolean> {
    if (this.fixture.ready && !(await this.fixture.ready(t))) return false;
    this.setupDone ??= Promise.resolve(this.fixture.setup?.());
    await this.setupDone;
    return true;
  }
}

/** What the instrumented provider saw during one Run. */
export interface SessionStats {
  connects: number;
  /** close() calls on the sessions, the harness's and the test's own. */
  closes: number;
  sessions: Session[];
  /** Every socket the provider opened through the egress guard. */
  sockets: net.Socket[];
}

/** What a Run needs of the fixture. */
export interface RunSettings extends Pick<ProviderFixture, 'config' | 'harness'> {
  /** Secret values to look for beyond those of the configs the Run is given. */
  secretValues?: string[];
}

/** One test's view of the provider: its harnesses, what it saw, and the sessions and sockets it opened. */
export class Run {
  readonly stats: SessionStats = { connects: 0, closes: 0, sessions: [], sockets: [] };
  /** Every outward text the test saw: test results, errors, api bodies, log lines. */
  private readonly seen: string[] = [];
  private readonly secrets: Set<string>;
  private readonly harnesses: ProviderHarness[] = [];
  private readonly instrumented: Provider;

  constructor(
    readonly provider: Provider,
    private readonly settings: RunSettings,
  ) {
    this.instrumented = instrument(provider, this.stats);
    this.secrets = new Set(settings.secretValues ?? []);
  }

  /**
   * A harness as the app builds one (egress `private` unless given), on the instrumented provider, logging into
   * what this test saw; closed when the test ends.
   */
  harness(options: Partial<Omit<HarnessOptions, 'providers' | 'logger'>> = {}): ProviderHarness {
    const logger = pino({ level: 'trace' }, { write: (line: string) => void this.seen.push(line) });
    const harness = newHarness({
      ...this.settings.harness,
      ...options,
      logger,
      providers: (id) => (id === this.provider.id ? this.instrumented : getProvider(id)),
    });
    this.harnesses.push(harness);
    return harness;
  }

  /** harness.test(), recorded. */
  async test(config: Config, harness = this.harness()): Promise<TestResult> {
    this.noteSecrets(config);
    const result = await harness.test(this.provider.id, config);
    this.seen.push(JSON.stringify(result));
    return result;
  }

  /** harness.execute() of one call, recorded: the error always, the data of an api provider (it is scrubbed). */
  async execute(
    config: Config,
    call: Call,
    target: { harness?: ProviderHarness; connectorId?: string; version?: number } = {},
  ): Promise<ExecuteResult> {
    this.noteSecrets(config);
    const connectorId = target.connectorId ?? connectorIdFor(this.provider);
    try {
      const result = await (target.harness ?? this.harness()).execute({
        providerId: this.provider.id,
        poolKey: poolKey(connectorId, target.version ?? 1, null),
        config,
        operation: call.operation,
        input: call.input,
        call: {
          mode: call.mode ?? 'read',
          limits: { ...DEFAULT_LIMITS, ...call.limits },
          boundParams: call.boundParams ?? {},
          connectorId,
        },
      });
      if (this.provider.type === 'api') this.seen.push(JSON.stringify(result.data));
      return result;
    } catch (error) {
      const { message, code, errors, extra } = error as PatchbayError;
      this.seen.push(JSON.stringify({ message, code, errors, extra }));
      throw error;
    }
  }

  /** A pooled session on `config` (the fixture's by default), with a connector id of its own. */
  peer(options: { harness?: ProviderHarness; config?: Config } = {}): Peer & { harness: ProviderHarness; connectorId: string } {
    const harness = options.harness ?? this.harness();
    const config = options.config ?? this.settings.config;
    const connectorId = connectorIdFor(this.provider);
    return { harness, connectorId, config, execute: (call) => this.execute(config, call, { harness, connectorId }) };
  }

  /** The PatchbayError a call fails with; fails the test if it succeeds or throws anything else. */
  async failure(promise: Promise<unknown>): Promise<PatchbayError> {
    return expectFailure(promise);
  }

  /** Closes every harness of the test, then lets the sessions' last socket events land. */
  async close(): Promise<void> {
    await Promise.all(this.harnesses.map((harness) => harness.close()));
  }

  /** No secret value of any config the test used appears in anything it saw, raw or URL-encoded. */
  assertNoSecretSeen(): void {
    const forms = [...this.secrets].flatMap((value) => [value, encodeURIComponent(value)]);
    for (const text of this.seen) {
      const leaked = forms.find((form) => text.includes(form));
      assert.equal(leaked, undefined, `a secret value appears in: ${text}`);
    }
  }

  private noteSecrets(config: Config): void {
    for (const value of secretValuesOf(this.provider, config)) this.secrets.add(value);
  }
}

/** The PatchbayError a call fails with; fails the test if it succeeds or throws anything else. */
export async function expectFailure(promise: Promise<unknown>): Promise<PatchbayError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof PatchbayError, `expected a PatchbayError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected the call to fail');
}

/** Where a validation_failed error points: the path of each of its `errors`, in order. */
export const errorPaths = (error: PatchbayError): string[] | undefined => error.errors?.map((item) => item.path);

/**
 * The secret values of a config that must never be shown: every string of its secret fields (nested ones
 * too) and the password inside a URL-shaped one. Values under 3 characters are not scrubbed by design.
 */
export function secretValuesOf(provider: Provider, config: Config): string[] {
  const values: string[] = [];
  const collect = (value: unknown): void => {
    if (typeof value === 'string') values.push(value, ...urlPassword(value));
    else if (Array.isArray(value)) value.forEach(collect);
    else if (value !== null && typeof value === 'object') Object.values(value).forEach(collect);
  };
  for (const name of secretFieldNames(provider)) collect(config[name]);
  return values.filter((value) => value.length >= 3);
}

function urlPassword(value: string): string[] {
  if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) return [];
  try {
    const { password } = new URL(value);
    return password ? [decodeURIComponent(password)] : [];
  } catch {
    return [];
  }
}

const connectorIdFor = (provider: Provider): string => uniqueName(`conformance-${provider.id}`);

/** An EgressGuard that keeps every socket it hands out, so a test can see whether they were all closed. */
class RecordingEgress extends EgressGuard {
  constructor(
    policy: EgressGuard['policy'],
    private readonly sockets: net.Socket[],
  ) {
    super(policy);
  }

  // connect() and tlsConnect() go through socket(), so this sees every socket of every path.
  override socket(options?: net.SocketConstructorOpts): net.Socket {
    const socket = super.socket(options);
    this.sockets.push(socket);
    return socket;
  }
}

/**
 * The provider as the harness sees it, counting connects and session closes and recording the sockets it
 * dials (through its own egress guard, same policy). Passed to the harness through its `providers` option.
 */
function instrument(provider: Provider, stats: SessionStats): Provider {
  const connect = provider.connect;
  if (!connect) return provider;
  return {
    ...provider,
    refine: provider.refine?.bind(provider),
    classify: (error) => provider.classify(error),
    async connect(config, ctx) {
      stats.connects += 1;
      const session = await connect.call(provider, config, {
        ...ctx,
        egress: new RecordingEgress(ctx.egress.policy, stats.sockets),
      });
      const counted: Session = {
        ping: (signal) => session.ping(signal),
        execute: (operation, input, call) => session.execute(operation, input, call),
        close: async () => {
          stats.closes += 1;
          await session.close();
        },
      };
      stats.sessions.push(counted);
      return counted;
    },
  };
}
