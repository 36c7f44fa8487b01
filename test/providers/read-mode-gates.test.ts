import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isReadStatement } from '../../src/providers/_shared/sql-guard/portable.js';
import rest from '../../src/providers/rest.js';
import { writesFor } from '../../src/providers/types.js';

/** The cheap first gates of read mode (Operation.writes), before the provider's own checks. */
describe('read-mode first gates', () => {
  it('treats a GET with a method-override header as a write', () => {
    const writes = (input: unknown) => writesFor(rest.operations.request!, rest.operations.request!.input.parse(input));
    assert.equal(writes({ method: 'GET', path: '/items' }), false);
    assert.equal(writes({ method: 'HEAD', path: '/items' }), false);
    assert.equal(writes({ method: 'GET', path: '/items', headers: { 'X-HTTP-Method-Override': 'DELETE' } }), true);
    assert.equal(writes({ method: 'GET', path: '/items', headers: { 'x-method-override': 'PUT' } }), true);
    assert.equal(writes({ method: 'POST', path: '/items' }), true);
  });

  it("keeps MySQL's executable comments, MariaDB's /*M! included, as code", () => {
    assert.equal(isReadStatement('SELECT 1 /* a comment */', 'mysql'), true);
    assert.equal(isReadStatement("SELECT 1 /*! INTO OUTFILE '/tmp/x' */", 'mysql'), false);
    assert.equal(isReadStatement("SELECT 1 /*M! INTO OUTFILE '/tmp/x' */", 'mysql'), false);
    assert.equal(isReadStatement('SELECT 1 /*+ hint */', 'mysql'), false);
  });
});
