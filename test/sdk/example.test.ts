import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { sdkWorld } from './support.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('the SDK example', () => {
  it('runs against a server as its README says, and prints what the agent sees', async (t) => {
    const w = await sdkWorld(t);
    if (!w) return;
    // Asynchronous: the server answering the example runs in this process. The `patchbay-source` condition
    // resolves `@patchbay/sdk` to the SDK's source, so the example runs the code under test, built or not.
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--conditions=patchbay-source', '--import', 'tsx', 'packages/sdk/examples/agent.ts'],
      {
        cwd: root,
        env: { ...process.env, PATCHBAY_URL: w.base, PATCHBAY_AGENT_TOKEN: w.token, PATCHBAY_ALIAS: 'db' },
        timeout: 60_000,
      },
    );
    assert.match(stdout, /^attachments: 2$/m);
    assert.match(stdout, /^ {2}db: postgresql, read, untested$/m);
    assert.match(stdout, /^ {2}rw: postgresql, read_write, untested$/m);
    assert.match(stdout, /^query on db: \[\{"greeting":"hello","answer":42\}\] in \d+ ms$/m);
    assert.match(stdout, /^error: query_failed \(HTTP 422, retryable: false\)$/m);
    assert.match(stdout, /^tools: db__query, db__describe$/m);
    assert.match(stdout, /^tables: orders\(id, tenant_id, note\)$/m);
    assert.ok(stdout.includes(`\nmcp: ${w.base}/api/v1/agents/${w.agentId}/mcp\n`), stdout);
    assert.ok(!stdout.includes(w.token), 'the example never prints the token');
  });
});
