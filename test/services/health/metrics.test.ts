import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { bearer, build } from '../../support/app.js';
import { closedPort } from '../../support/listeners.js';
import { pgAt } from './support.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/**
 * A strict reader of the Prometheus text format: every line is a comment, blank, or a well-formed sample. Values
 * are Go floats, whose NaN and Inf spellings are case-insensitive (prom-client writes "Nan").
 */
function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || /^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$/.test(line)) continue;
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (-?[0-9.]+(?:e[+-]?\d+)?|nan|[+-]inf)$/i.exec(line);
    assert.ok(match, `not a Prometheus sample line: ${line}`);
    const [, name = '', rawLabels = '', value = ''] = match;
    const labels: Record<string, string> = {};
    const rest = rawLabels.replace(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g, (_all, key: string, labelValue: string) => {
      labels[key] = labelValue;
      return '';
    });
    assert.equal(rest, '', `malformed labels: ${line}`);
    samples.push({ name, labels, value: Number(value) });
  }
  return samples;
}

const sum = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)).reduce((total, s) => total + s.value, 0);

describe('/metrics', () => {
  it('serves Prometheus text that parses, and moves when requests and connector tests are made; no connector id without a token', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const scrape = async () => {
      const response = await ctx.app.inject({ method: 'GET', url: '/metrics' });
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers['content-type']), /^text\/plain/);
      return { text: response.body, samples: parseMetrics(response.body) };
    };

    const before = await scrape();
    for (let i = 0; i < 3; i += 1) {
      assert.equal((await ctx.app.inject({ method: 'GET', url: '/api/v1/connectors', headers: bearer(admin.key) })).statusCode, 200);
    }
    await ctx.app.inject({ method: 'GET', url: '/no/such/path/123' });
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/api/v1/connectors',
      headers: bearer(admin.key),
      payload: { name: 'm', connector_type: 'database', provider: 'postgresql', config: pgAt(await closedPort(), { password: 'metrics-canary-secret' }) },
    });
    const id = (created.json() as { id: string }).id;
    await ctx.app.inject({ method: 'POST', url: `/api/v1/connectors/${id}/test`, headers: bearer(admin.key) });
    const after = await scrape();

    const listed = { name: 'patchbay_http_requests_total', labels: { method: 'GET', route: '/api/v1/connectors', status_code: '200' } };
    assert.equal(sum(after.samples, listed.name, listed.labels) - sum(before.samples, listed.name, listed.labels), 3, after.text);
    assert.ok(sum(after.samples, 'patchbay_http_request_duration_seconds_count', listed.labels) >= 3);
    assert.ok(sum(after.samples, 'patchbay_http_requests_total', { route: 'unmatched', status_code: '404' }) >= 1, 'unknown paths share one label');
    assert.ok(!after.text.includes('/no/such/path'), 'raw URLs never become labels');
    assert.equal(sum(after.samples, 'patchbay_connector_calls_total', { kind: 'test', provider: 'postgresql', outcome: 'connection_refused' }), 1);
    assert.equal(sum(after.samples, 'patchbay_connector_call_duration_seconds_count', { kind: 'test', provider: 'postgresql' }), 1);
    assert.ok(after.samples.some((s) => s.name === 'process_resident_memory_bytes'), 'process metrics are included');
    assert.ok(!after.text.includes(id), 'no connector id without PATCHBAY_METRICS_TOKEN');
    assert.ok(!after.text.includes('metrics-canary-secret'));
  });

  it('needs PATCHBAY_METRICS_TOKEN when it is set, and then labels connector calls with the connector id', async (t) => {
    const token = 'metrics-token-0123456789abcdef';
    const ctx = await build(t, { env: { PATCHBAY_METRICS_TOKEN: token } });
    if (!ctx) return;
    const admin = await ctx.user('admin');
    const refusedHeaders: Record<string, string>[] = [{}, bearer('wrong-token-0123456789'), bearer(admin.key)];
    for (const headers of refusedHeaders) {
      const refused: LightMyRequestResponse = await ctx.app.inject({ method: 'GET', url: '/metrics', headers });
      assert.equal(refused.statusCode, 401);
      assert.equal((refused.json() as { code: string }).code, 'unauthenticated');
    }
    const created = await ctx.app.inject({
      method: 'POST',
      url: '/api/v1/connectors',
      headers: bearer(admin.key),
      payload: { name: 'm', connector_type: 'database', provider: 'postgresql', config: pgAt(await closedPort()) },
    });
    const id = (created.json() as { id: string }).id;
    await ctx.app.inject({ method: 'POST', url: `/api/v1/connectors/${id}/test`, headers: bearer(admin.key) });
    const response = await ctx.app.inject({ method: 'GET', url: '/metrics', headers: bearer(token) });
    assert.equal(response.statusCode, 200);
    const samples = parseMetrics(response.body);
    assert.equal(sum(samples, 'patchbay_connector_calls_total', { connector_id: id, kind: 'test' }), 1);
  });
});
