import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bearer, build } from '../../support/app.js';
import { dialects } from '../../support/db.js';
import { pgAt } from './support.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

interface HealthBody {
  data: { checked_at: string; success: boolean; latency_ms: number; source: string }[];
  next_cursor: string | null;
  summary: Record<'1h' | '24h' | '7d', { uptime_percent: number | null; p50_ms: number | null; p95_ms: number | null; checks: number }>;
}

for (const dialect of dialects) {
  describe(`GET /api/v1/connectors/{id}/health on ${dialect}`, () => {
    it('returns the recent checks with uptime and p50/p95 latency over 1 h, 24 h and 7 d', async (t) => {
      const ctx = await build(t, { dialect });
      if (!ctx) return;
      const member = await ctx.user('member');
      const connector = await ctx.app.services.connectors.create(
        { organizationId: member.orgId, actor: { type: 'user', id: member.userId } },
        { name: 'c', connector_type: 'database', provider: 'postgresql', config: pgAt(5432) },
      );
      const get = async (query = '') => {
        const response = await ctx.app.inject({ method: 'GET', url: `/api/v1/connectors/${connector.id}/health${query}`, headers: bearer(member.key) });
        assert.equal(response.statusCode, 200, response.body);
        return response.json() as HealthBody;
      };

      const empty = await get();
      assert.deepEqual(empty.summary['1h'], { uptime_percent: null, p50_ms: null, p95_ms: null, checks: 0 });

      const now = Date.now();
      const row = (agoMs: number, success: boolean, latency: number, source: 'manual' | 'scheduled' = 'scheduled') => ({
        connector_id: connector.id,
        organization_id: member.orgId,
        checked_at: new Date(now - agoMs),
        success,
        latency_ms: latency,
        error_code: success ? null : ('connection_refused' as const),
        message: success ? 'ok' : 'refused',
        source,
      });
      await ctx.models.ConnectorHealthCheck.bulkCreate([
        row(10 * MINUTE, true, 10),
        row(11 * MINUTE, true, 20, 'manual'),
        row(12 * MINUTE, false, 5),
        row(2 * HOUR, true, 30),
        row(3 * HOUR, true, 40),
        row(72 * HOUR, false, 5000),
        row(8 * 24 * HOUR, true, 1), // older than a week: in the history, not in the summary
      ]);

      const body = await get('?limit=3');
      assert.deepEqual(body.summary, {
        '1h': { uptime_percent: 66.67, p50_ms: 10, p95_ms: 20, checks: 3 },
        '24h': { uptime_percent: 80, p50_ms: 20, p95_ms: 40, checks: 5 },
        '7d': { uptime_percent: 66.67, p50_ms: 20, p95_ms: 40, checks: 6 },
      });
      assert.deepEqual(body.data.map((r) => [r.latency_ms, r.source]), [[10, 'scheduled'], [20, 'manual'], [5, 'scheduled']]);
      assert.ok(body.next_cursor);
      const next = await get(`?limit=10&cursor=${body.next_cursor}`);
      assert.deepEqual(next.data.map((r) => r.latency_ms), [30, 40, 5000, 1]);
    });
  });
}
