import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PatchbayError } from '../../src/errors.js';
import { analyzeSql, bindNamedParams } from '../../src/providers/_shared/sql-params.js';

function fieldErrors(run: () => unknown): { code: string; paths: string[] } {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof PatchbayError);
    return { code: error.code, paths: (error.errors ?? []).map((item) => item.path) };
  }
  assert.fail('expected a PatchbayError');
}

describe('bindNamedParams', () => {
  test('numbers placeholders in order, one number per name', () => {
    const bound = bindNamedParams('SELECT * FROM t WHERE a = :a AND b = :b OR a2 = :a', { a: 1, b: 'x' });
    assert.deepEqual(bound, { text: 'SELECT * FROM t WHERE a = $1 AND b = $2 OR a2 = $1', values: [1, 'x'] });
  });

  test('casts are not placeholders, with or without a placeholder before them', () => {
    const bound = bindNamedParams('SELECT :n::int, x::text, :s ::varchar(3)', { n: '5', s: 'abc' });
    assert.deepEqual(bound, { text: 'SELECT $1::int, x::text, $2 ::varchar(3)', values: ['5', 'abc'] });
  });

  test('strings, quoted names, comments and dollar quotes keep their colons', () => {
    const sql = [
      "SELECT ':a', E'it\\'s :b', 'x'':c'",
      '"col:d"',
      '-- :e in a line comment',
      '/* :f /* nested :g */ still :h */',
      '$$ :i $$, $fn$ :j $x$ :k $fn$',
      'FROM t WHERE v = :real',
    ].join('\n');
    const bound = bindNamedParams(sql, { real: 1 });
    assert.equal(bound.text, sql.replace(':real', '$1'));
    assert.deepEqual(bound.values, [1]);
  });

  test('array slices with numbers and := are not placeholders', () => {
    const bound = bindNamedParams('SELECT arr[1:2], f(x := :v)', { v: 3 });
    assert.equal(bound.text, 'SELECT arr[1:2], f(x := $1)');
  });

  test('a missing param is validation_failed at params.<name>', () => {
    assert.deepEqual(
      fieldErrors(() => bindNamedParams('SELECT :a, :b', { a: 1 })),
      { code: 'validation_failed', paths: ['params.b'] },
    );
  });

  test('an extra param is validation_failed at params.<name>', () => {
    assert.deepEqual(
      fieldErrors(() => bindNamedParams('SELECT :a', { a: 1, zzz: 2 })),
      { code: 'validation_failed', paths: ['params.zzz'] },
    );
  });

  test('a param named only inside a string literal is extra, not bound', () => {
    assert.deepEqual(fieldErrors(() => bindNamedParams("SELECT ':a'", { a: 1 })).paths, ['params.a']);
  });

  test('fixed (bound) params win over the caller and may go unused', () => {
    const bound = bindNamedParams('SELECT * FROM t WHERE tenant = :tenant', { tenant: 'other' }, { tenant: 'mine', unused: 1 });
    assert.deepEqual(bound.values, ['mine']);
    assert.deepEqual(bindNamedParams('SELECT :tenant', {}, { tenant: 7 }).values, [7]);
  });

  test('positional $n parameters are refused (they would read bound values)', () => {
    assert.deepEqual(fieldErrors(() => bindNamedParams('SELECT $1', {})), { code: 'validation_failed', paths: ['query'] });
  });

  test('injection attempts stay values', () => {
    const attack = "1'; DROP TABLE users; --";
    const bound = bindNamedParams('SELECT * FROM users WHERE id = :id', { id: attack });
    assert.equal(bound.text, 'SELECT * FROM users WHERE id = $1');
    assert.deepEqual(bound.values, [attack]);
    const nested = bindNamedParams('SELECT :a', { a: ':b $1 $$' });
    assert.deepEqual(nested, { text: 'SELECT $1', values: [':b $1 $$'] });
  });
});

describe('analyzeSql', () => {
  test('first keyword and statement count', () => {
    assert.deepEqual(pick(analyzeSql('  -- hello\n /* c */ select 1')), ['SELECT', 1]);
    assert.deepEqual(pick(analyzeSql('(SELECT 1) UNION (SELECT 2);')), ['SELECT', 1]);
    assert.deepEqual(pick(analyzeSql('COMMIT; DROP TABLE x')), ['COMMIT', 2]);
    assert.deepEqual(pick(analyzeSql("SELECT ';'; ")), ['SELECT', 1]);
    assert.deepEqual(pick(analyzeSql('SELECT 1; -- trailing comment')), ['SELECT', 1]);
    assert.deepEqual(pick(analyzeSql('SELECT $$;$$; DELETE FROM t')), ['SELECT', 2]);
    assert.deepEqual(pick(analyzeSql('-- only a comment')), [undefined, 0]);
  });
});

const pick = (shape: ReturnType<typeof analyzeSql>) => [shape.firstKeyword, shape.statementCount];
