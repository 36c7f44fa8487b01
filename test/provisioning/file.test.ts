import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PatchbayError } from '../../src/errors.js';
import { desiredState } from '../../src/provisioning/desired.js';
import { locateError, parseProvisioningText, ProvisioningFileError } from '../../src/provisioning/file.js';

const read = (text: string, env: Record<string, string> = {}) => parseProvisioningText(text, 'patchbay.yaml', { env });

/** The one line a bad file gives: file, line, field. */
function failure(action: () => unknown): ProvisioningFileError {
  try {
    action();
  } catch (error) {
    assert.ok(error instanceof ProvisioningFileError, `expected a file error, got ${String(error)}`);
    return error;
  }
  assert.fail('no error');
}

describe('reading a provisioning file', () => {
  const connector = (password: string) => `organization: acme
connectors:
  - name: orders
    provider: postgresql
    config:
      host: db.internal
      password: ${password}
`;

  it('refuses a literal secret, naming file, line and field, and never the value', () => {
    const error = failure(() => read(connector('hunter2-literal')));
    assert.equal(error.line, 7);
    assert.equal(error.field, 'connectors[0].config.password');
    assert.match(error.message, /^patchbay\.yaml:7: connectors\[0\]\.config\.password: a secret must be a reference/);
    assert.ok(!error.message.includes('hunter2'));
    // A webhook's secret, and a secret map entry (rest headers), alike.
    const webhook = failure(() => read('organization: acme\nwebhooks:\n  - url: https://hooks.example.com/x\n    events: [connector.failing]\n    secret: literal-secret-value-123\n'));
    assert.equal(webhook.field, 'webhooks[0].secret');
    assert.equal(webhook.line, 5);
    const headers = failure(() =>
      read('organization: acme\nconnectors:\n  - name: api\n    provider: rest\n    config:\n      base_url: https://api.example.com\n      headers:\n        X-Api-Key: abc123\n'),
    );
    assert.equal(headers.field, 'connectors[0].config.headers.X-Api-Key');
    assert.equal(headers.line, 8);
  });

  it('resolves ${env:…} and ${file:…} references, in secret and other fields, numbers read as numbers', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'patchbay-ref-'));
    try {
      writeFileSync(path.join(dir, 'pw.txt'), 's3cret-from-file\n');
      const text = `organization: acme
connectors:
  - name: orders
    provider: postgresql
    enabled: \${env:ENABLED}
    config:
      host: \${env:PG_HOST}
      port: \${env:PG_PORT}
      database: app_\${env:STAGE}
      username: app
      password: \${file:pw.txt}
`;
      const file = parseProvisioningText(text, path.join(dir, 'patchbay.yaml'), { env: { PG_HOST: 'db.internal', PG_PORT: '6543', STAGE: 'prod', ENABLED: 'false' } });
      const state = desiredState(file.document);
      assert.deepEqual(
        { ...state.connectors[0]?.config, enabled: state.connectors[0]?.enabled },
        { host: 'db.internal', port: 6543, database: 'app_prod', username: 'app', password: 's3cret-from-file', ssl: false, connect_timeout_ms: 5000, tls_reject_unauthorized: true, enabled: false },
      );
      const missing = failure(() => parseProvisioningText(text, path.join(dir, 'patchbay.yaml'), { env: { PG_PORT: '1', STAGE: 'x', ENABLED: 'true' } }));
      assert.equal(missing.field, 'connectors[0].config.host');
      assert.equal(missing.line, 7);
      assert.match(missing.reason, /environment variable PG_HOST is not set/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("maps the API's validation errors back to the file's lines; YAML errors and JSON files work too", () => {
    const file = read(`organization: acme
connectors:
  - name: orders
    provider: postgresql
    config:
      host: db.internal
      port: 99999
      password: \${env:PW}
agents:
  - id: "not valid!"
`, { PW: 'x' });
    const error = (() => {
      try {
        desiredState(file.document);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    assert.ok(error instanceof PatchbayError);
    assert.equal(error.code, 'validation_failed');
    const located = locateError(error, file);
    assert.ok(located instanceof ProvisioningFileError);
    assert.equal(located.field, 'agents[0].id');
    assert.equal(located.line, 10);
    assert.deepEqual(error.errors?.map((e) => [e.path, file.lineOf(e.path)]), [['agents[0].id', 10]]);

    const badPort = read('organization: acme\nconnectors:\n  - name: orders\n    provider: postgresql\n    config:\n      host: h\n      port: 99999\n');
    const portError = locateError((() => { try { desiredState(badPort.document); } catch (e) { return e; } })(), badPort) as ProvisioningFileError;
    assert.equal(portError.field, 'connectors[0].config.port');
    assert.equal(portError.line, 7);

    const yaml = failure(() => read('organization: acme\nconnectors: [\n  - name: x\n'));
    assert.ok(yaml.line, 'a YAML syntax error names its line');
    const json = read('{"organization": "acme", "agents": [{"id": "bot"}]}');
    assert.deepEqual(desiredState(json.document).agents.map((a) => a.id), ['bot']);
  });
});
