import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { errorCodes } from '../../src/errors.js';
import { poolKey } from '../../src/providers/harness.js';
import { describeFields, listProviders, parseConfig, providerIds } from '../../src/providers/registry.js';
import { expectFailure } from './conformance.js';
import { openHarness } from '../support/harness.js';
import { minimalConfigs } from '../support/minimal-configs.js';

/**
 * The meta-test (STYLE.md section 5): the catalogue, the provider files, their conformance runs and their
 * documentation stay in step. A provider that gains a driver must gain a conformance run and a page.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string | undefined => (existsSync(root + path) ? readFileSync(root + path, 'utf8') : undefined);

// The reference documents' sixteen, plus mqtt and nats, in catalogue order.
const EXPECTED = [
  'postgresql',
  'mysql',
  'mongodb',
  'redis',
  'sqlite',
  'rest',
  'graphql',
  'soap',
  's3',
  'gcs',
  'azure_blob',
  'minio',
  'kafka',
  'rabbitmq',
  'sqs',
  'redis_pubsub',
  'mqtt',
  'nats',
];
// Files of src/providers/ that are the framework, not a provider.
const FRAMEWORK = new Set(['types.ts', 'registry.ts', 'harness.ts', 'scrub.ts', 'catalogue.ts', 'boundaries.ts']);

const MINIMAL = minimalConfigs;

const withDriver = listProviders().filter((provider) => provider.connect !== undefined);
const withoutDriver = listProviders().filter((provider) => provider.connect === undefined);

describe('provider registry', () => {
  test('the registry ids are the provider files and folders of src/providers/ and the expected eighteen', () => {
    // A provider is `<id>.ts`, or a folder `<id>/` whose entry is `<id>/index.ts`.
    const files = readdirSync(`${root}src/providers`, { withFileTypes: true })
      .filter((entry) =>
        entry.isDirectory()
          ? read(`src/providers/${entry.name}/index.ts`) !== undefined
          : entry.name.endsWith('.ts') && !FRAMEWORK.has(entry.name),
      )
      .map((entry) => entry.name.replace(/\.ts$/, ''));
    assert.deepEqual([...providerIds].sort(), [...files].sort(), 'registry ids vs files in src/providers/');
    assert.deepEqual([...providerIds], EXPECTED);
  });

  for (const provider of withDriver) {
    describe(`${provider.id} (has a driver)`, () => {
      test(`test/providers/${provider.id}.test.ts runs the conformance suite`, () => {
        const source = read(`test/providers/${provider.id}.test.ts`);
        assert.ok(source !== undefined, `test/providers/${provider.id}.test.ts is missing`);
        assert.match(source, /\bdescribeProvider\(/, `test/providers/${provider.id}.test.ts does not call describeProvider`);
      });

      test(`docs/providers/${provider.id}.md names every config field`, () => {
        const page = read(`docs/providers/${provider.id}.md`);
        assert.ok(page !== undefined, `docs/providers/${provider.id}.md is missing`);
        const missing = describeFields(provider)
          .map((field) => field.name)
          .filter((name) => !page.includes(`\`${name}\``));
        assert.deepEqual(missing, [], `docs/providers/${provider.id}.md does not name: ${missing.join(', ')}`);
      });
    });
  }

  // A driverless provider is listed, validated and stored, but tests and calls answer unsupported_operation.
  for (const provider of withoutDriver) {
    test(`${provider.id} (no driver yet) answers unsupported_operation`, async (t) => {
      const config = MINIMAL[provider.id];
      assert.ok(config, `the meta-test has no minimal config for ${provider.id}`);
      const parsed = parseConfig(provider, config);
      assert.ok(
        parsed.success,
        `the minimal ${provider.id} config does not parse: ${JSON.stringify(!parsed.success && parsed.errors)}`,
      );
      const harness = openHarness(t, { poolMax: 1, poolIdleMs: 1_000 });
      const result = await harness.test(provider.id, config);
      assert.equal(result.success, false);
      assert.equal(result.error_code, 'unsupported_operation', result.message);
      const operation = provider.defaultOperation ?? Object.keys(provider.operations)[0];
      const error = await expectFailure(
        harness.execute({
          providerId: provider.id,
          poolKey: poolKey('meta', 1, null),
          config,
          operation,
          input: {},
          call: { mode: 'read_write', limits: { maxRows: 1, maxBytes: 1_024, timeoutMs: 1_000 }, boundParams: {} },
        }),
      );
      assert.equal(error.code, 'unsupported_operation');
    });
  }

  test('every error code of src/errors.ts has a section in docs/errors.md', () => {
    const codes = Object.keys(errorCodes);
    const page = read('docs/errors.md');
    assert.ok(
      page !== undefined,
      `docs/errors.md does not exist; it needs a section (a "## \`code\`" heading) for each of: ${codes.join(', ')}`,
    );
    // The first word of each heading, backticks dropped: "## `read_only` (403)" is the section of read_only.
    const sections = new Set([...page.matchAll(/^#{2,4}\s+`?([a-z_]+)/gm)].map((match) => match[1]));
    const missing = codes.filter((code) => !sections.has(code));
    assert.deepEqual(missing, [], `docs/errors.md has no section (a "## \`code\`" heading) for: ${missing.join(', ')}`);
  });
});
