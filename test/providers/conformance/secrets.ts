import assert from 'node:assert/strict';
import { secretValuesOf, type Suite } from './context.js';

/**
 * secrets: DESIGN.md section 8, every outward text is scrubbed of the connector's secret values. Every test
 * of the suite already checks what it saw (Suite.it); this block drives configs that carry canaries through
 * each path that turns a config into text: a failed test, a failed execute and its log lines, a refused config.
 */
export function describeSecrets(suite: Suite): void {
  const { provider, fixture } = suite;
  suite.capability('secrets', fixture.secrets, ({ configs }) => {
    assert.ok(configs.length > 0, 'secrets.configs is empty');
    configs.forEach((config, index) => {
      suite.it(
        `secrets config ${index + 1}: no secret value in a result, an error, a log line or a refusal`,
        { peer: true },
        async (run) => {
          // A canary config whose secrets the suite cannot see would make this test pass vacuously.
          assert.ok(secretValuesOf(provider, config).length > 0, `secrets config ${index + 1} sets no secret field`);
          await run.test(config);
          await run.execute(config, fixture.probe).catch(() => undefined);
          const refused = await run.test({ ...config, not_a_field: true });
          assert.equal(refused.error_code, 'validation_failed');
          // Suite.it then checks everything recorded here, log lines included.
        },
      );
    });
  });
}
