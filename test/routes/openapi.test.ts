import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { build } from '../support/app.js';
import { registeredRoutes } from '../support/http.js';

interface Operation {
  responses?: Record<string, unknown>;
  summary?: string;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, Operation>>;
}

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
// The document does not describe itself.
const UNDOCUMENTED = new Set(['GET /api/v1/openapi.json']);

/** `/api/v1/connectors/{id}/` and `/api/v1/connectors/:id` name the same route. */
const normalise = (path: string) => path.replace(/\{([^}]+)\}/g, ':$1').replace(/(.)\/$/, '$1');

describe('OpenAPI document', () => {
  it('documents every /api/v1 route with its method, each with its 4xx answers, and validates as OpenAPI 3.1', async (t) => {
    const ctx = await build(t);
    if (!ctx) return;
    const response = await ctx.app.inject({ method: 'GET', url: '/api/v1/openapi.json' });
    assert.equal(response.statusCode, 200);
    const document = response.json() as OpenApiDocument;
    assert.equal(document.openapi, '3.1.0');

    const documented = new Map<string, Operation>();
    for (const [path, item] of Object.entries(document.paths)) {
      // /healthz and /readyz are documented too, outside the API.
      if (!path.startsWith('/api/v1/')) continue;
      for (const [method, operation] of Object.entries(item)) {
        if (METHODS.includes(method)) documented.set(`${method.toUpperCase()} ${normalise(path)}`, operation);
      }
    }
    const served = (await registeredRoutes(ctx.app)).filter(
      (route) => route.split(' ')[1]?.startsWith('/api/v1/') && !UNDOCUMENTED.has(route),
    );
    assert.ok(served.length > 30, `found the routes: ${served.length}`);
    assert.deepEqual(
      served.filter((route) => !documented.has(route)),
      [],
      'every served route is documented',
    );
    assert.deepEqual(
      [...documented.keys()].filter((route) => !served.includes(route)),
      [],
      'every documented route is served',
    );

    for (const [route, operation] of documented) {
      const statuses = Object.keys(operation.responses ?? {});
      assert.ok(
        statuses.some((status) => /^4\d\d$/.test(status)),
        `${route} documents a 4xx answer: ${statuses.join(', ')}`,
      );
      assert.ok(operation.summary, `${route} has a summary`);
    }

    const { Validator } = await import('@seriousme/openapi-schema-validator');
    const result = await new Validator().validate(document as never);
    assert.equal(result.valid, true, JSON.stringify(result.errors));
  });
});
