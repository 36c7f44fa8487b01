import assert from 'node:assert/strict';
import type { ExecuteResult } from '../../../src/providers/harness.js';
import type { Suite } from './context.js';
import type { Call, TruncationCase } from './fixture.js';

/** operations, read mode and truncation: what calls do to real data. */
export function describeOperations(suite: Suite): void {
  const { provider, fixture } = suite;

  suite.capability('operations', fixture.operations, (cases) => {
    // "Each declared operation round-tripped for real" (STYLE.md section 5): an operation without a case is untested.
    suite.it('every operation the provider declares has a case', { peer: false }, async () => {
      const covered = new Set(cases.map((item) => item.operation ?? provider.defaultOperation));
      const missing = Object.keys(provider.operations).filter((name) => !covered.has(name));
      assert.deepEqual(missing, [], `operations without a case: ${missing.join(', ')}`);
    });

    for (const item of cases) {
      suite.it(item.name, { peer: true }, async (run) => {
        const peer = run.peer();
        if (item.fails !== undefined) {
          assert.equal((await run.failure(peer.execute(item))).code, item.fails);
          return;
        }
        const result = await peer.execute(item);
        assertEnvelope(result);
        await item.check?.(result, peer);
      });
    }
  });

  suite.capability('read mode', fixture.readMode, ({ writes, snapshot }) => {
    suite.it('a write in read mode is refused with read_only, and the data is unchanged', { peer: true }, async (run) => {
      assert.ok(writes.length > 0, 'readMode.writes is empty');
      const peer = run.peer();
      const before = await snapshot(peer);
      assert.notEqual(before, undefined, 'readMode.snapshot returned nothing to compare');
      for (const write of writes) {
        const error = await run.failure(peer.execute({ ...write, mode: 'read' }));
        assert.equal(error.code, 'read_only', `${JSON.stringify(write.input)}: ${error.message}`);
      }
      assert.deepEqual(await snapshot(peer), before, 'a write refused in read mode changed the data');
    });
  });

  suite.capability('truncation', fixture.truncation, ({ maxRows, maxBytes }) => {
    assert.ok(maxRows ?? maxBytes, 'truncation declares neither maxRows nor maxBytes; give one or switch it off');
    const limits = [
      ['max_rows', 'maxRows', maxRows],
      ['max_bytes', 'maxBytes', maxBytes],
    ] as const;
    for (const [name, limit, item] of limits) {
      if (item === undefined) continue;
      suite.it(`${name} ${item.limit}: the result is cut and says truncated: true`, { peer: true }, async (run) => {
        const peer = run.peer();
        const cut = await peer.execute(limited(item, limit, item.limit));
        assertEnvelope(cut);
        assert.equal(cut.truncated, true);
        await item.check?.(cut);
        if (item.exact) assert.equal((await peer.execute(limited(item.exact, limit, item.limit))).truncated, false, 'exact fit');
        // A cut-off read must leave the session usable.
        assertEnvelope(await peer.execute(fixture.probe));
      });
    }
  });
}

/** The execute envelope of DESIGN.md section 6. */
function assertEnvelope(result: ExecuteResult): void {
  assert.equal(result.ok, true);
  assert.ok(Number.isInteger(result.latency_ms) && result.latency_ms >= 0, `latency_ms ${result.latency_ms}`);
  assert.equal(typeof result.truncated, 'boolean');
}

const limited = (call: Call | TruncationCase, limit: 'maxRows' | 'maxBytes', value: number): Call => ({
  ...call,
  limits: { ...call.limits, [limit]: value },
});
