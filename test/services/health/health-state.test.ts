import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ConnectorStatus } from '../../../src/db/models/index.js';
import { nextDueAfter, nextHealthState, type CheckSource } from '../../../src/services/health/health-service.js';

const state = (status: ConnectorStatus, successes = 0, failures = 0, enabled = true) => ({
  status,
  enabled,
  consecutive_successes: successes,
  consecutive_failures: failures,
});

/** Feeds results in order from `start` and returns the statuses and events seen. */
function run(start: ConnectorStatus, results: boolean[], source: CheckSource = 'scheduled', threshold = 2) {
  let current = state(start);
  return results.map((success) => {
    const next = nextHealthState(current, success, source, threshold);
    current = next;
    return next.event ? `${next.status}!${next.event}` : next.status;
  });
}

describe('status transitions (DESIGN.md section 9)', () => {
  it('scheduled checks move healthy <-> failing only after N consecutive results, so one blip does not flap', () => {
    assert.deepEqual(run('healthy', [false, true, false, false, false, true, true]), [
      'healthy',
      'healthy',
      'healthy',
      'failing!connector.failing',
      'failing',
      'failing',
      'healthy!connector.recovered',
    ]);
    assert.deepEqual(run('healthy', [false, false, false], 'scheduled', 3), ['healthy', 'healthy', 'failing!connector.failing']);
  });

  it('an untested connector turns healthy at its first scheduled success, failing (and notifies) only after N failures', () => {
    assert.deepEqual(run('untested', [true]), ['healthy']);
    assert.deepEqual(run('untested', [false, false]), ['untested', 'failing!connector.failing']);
  });

  it('a manual test sets the status at once and notifies on entering and leaving failing', () => {
    assert.deepEqual(run('healthy', [false, false, true], 'manual'), ['failing!connector.failing', 'failing', 'healthy!connector.recovered']);
    assert.deepEqual(run('untested', [false], 'manual'), ['failing!connector.failing']);
    assert.deepEqual(run('untested', [true], 'manual'), ['healthy']);
  });

  it('a disabled connector stays disabled and notifies no one, while the counters keep counting', () => {
    const next = nextHealthState(state('disabled', 0, 3, false), false, 'manual', 2);
    assert.equal(next.status, 'disabled');
    assert.equal(next.event, undefined);
    assert.equal(next.consecutive_failures, 4);
  });

  it('counts consecutive results of one kind, resetting the other', () => {
    const next = nextHealthState(state('healthy', 5, 0), false, 'scheduled', 2);
    assert.deepEqual([next.consecutive_successes, next.consecutive_failures], [0, 1]);
  });
});

describe('next due time', () => {
  it('keeps each connector on its own grid and skips runs missed while behind', () => {
    const due = new Date('2025-01-01T00:00:10Z');
    assert.equal(nextDueAfter(due, 60, new Date('2025-01-01T00:00:10Z')).toISOString(), '2025-01-01T00:01:10.000Z');
    assert.equal(nextDueAfter(due, 60, new Date('2025-01-01T00:00:40Z')).toISOString(), '2025-01-01T00:01:10.000Z');
    // Five intervals late: the next run is the next point of the grid, not five runs in a row.
    assert.equal(nextDueAfter(due, 60, new Date('2025-01-01T00:05:20Z')).toISOString(), '2025-01-01T00:06:10.000Z');
  });
});
