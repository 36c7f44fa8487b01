import assert from 'node:assert/strict';
import { describeFields, parseConfig } from '../../../src/providers/registry.js';
import type { Suite } from './context.js';

/**
 * schema: the config a user writes is what the registry accepts. No peer needed: parsing never dials, and
 * an invalid config must be refused before anything is dialled.
 */
export function describeSchema(suite: Suite): void {
  const { provider, fixture } = suite;
  suite.capability('schema', fixture.schema, ({ bad }) => {
    suite.it('the good config parses, every default applied', { peer: false }, async () => {
      const parsed = parseConfig(provider, fixture.config);
      assert.ok(parsed.success, `fixture.config does not parse: ${JSON.stringify(!parsed.success && parsed.errors)}`);
      for (const field of describeFields(provider)) {
        if (field.default !== undefined && !Object.hasOwn(fixture.config, field.name)) {
          assert.deepEqual(parsed.data[field.name], field.default, `default of ${field.name}`);
        }
      }
    });

    // An unknown field is refused rather than ignored: a typo must not silently fall back to a default.
    suite.it('an unknown field is refused at its own path', { peer: false }, async () => {
      const parsed = parseConfig(provider, { ...fixture.config, not_a_field: true });
      assert.ok(!parsed.success, 'accepted an unknown field');
      assert.deepEqual(
        parsed.errors.map((error) => error.path),
        ['config.not_a_field'],
      );
    });

    bad.forEach(({ config, path }, index) => {
      suite.it(`bad config ${index + 1} fails at config.${path}`, { peer: false }, async () => {
        const parsed = parseConfig(provider, config);
        assert.ok(!parsed.success, `accepted ${JSON.stringify(config)}`);
        const paths = parsed.errors.map((error) => error.path);
        assert.ok(paths.includes(`config.${path}`), `expected an error at config.${path}, got ${paths.join(', ')}`);
      });
    });

    suite.it(
      'test() answers validation_failed for a bad config, names the path, and dials nothing',
      { peer: false },
      async (run) => {
        const first = bad[0];
        assert.ok(first, 'schema.bad lists no bad config');
        const result = await run.test(first.config);
        assert.equal(result.error_code, 'validation_failed');
        assert.equal(result.success, false);
        assert.ok(result.message.includes(`config.${first.path}`), result.message);
        assert.equal(run.stats.connects, 0);
      },
    );
  });
}
