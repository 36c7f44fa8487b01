import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import graphql from '../../src/providers/graphql.js';
import type { ExecuteResult } from '../../src/providers/harness.js';
import { startGraphqlPeer } from '../support/http-peers.js';
import { describeProvider, expectFailure, openPeer, type Call } from './conformance.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const token = unique('Canary-token');
const peer = await startGraphqlPeer({ token });
after(() => peer.stop());

const config = { endpoint: peer.endpoint, auth_type: 'bearer', token };
const gql = (query: string, extra: { variables?: Record<string, unknown>; operation_name?: string } = {}, mode?: Call['mode']): Call => ({
  input: { query, ...extra },
  mode,
});
type Answer = { status: number; headers: Record<string, unknown>; body: { data?: Record<string, unknown>; errors?: unknown[] } };
const answer = (result: ExecuteResult) => result.data as Answer;
const HELLO = { data: { hello: 'hello world' } };

describeProvider(graphql, {
  config,
  at: ({ host, port }) => ({ ...config, endpoint: `http://${host}:${port}/graphql` }),
  probe: gql('{ hello }'),
  schema: {
    bad: [
      { config: { ...config, endpoint: 'not a url' }, path: 'endpoint' },
      { config: { endpoint: peer.endpoint, auth_type: 'api_key', api_key: 'key-123' }, path: 'api_key_name' },
      { config: { ...config, headers: { 'Bad Name': 'x' } }, path: 'headers.Bad Name' },
    ],
  },
  connectionTest: { message: /^GraphQL Query type, HTTP 200$/ },
  auth: { configs: [{ ...config, token: unique('wrong-token') }] },
  tls: { config: ({ host, port }) => ({ ...config, endpoint: `https://${host}:${port}/graphql` }) },
  secrets: {
    configs: [
      { ...config, headers: { 'X-Canary': unique('Canary-header') } },
      { endpoint: peer.endpoint, auth_type: 'api_key', api_key: unique('Canary-key'), api_key_name: 'X-Api-Key' },
    ],
  },
  operations: [
    {
      name: 'a mutation adds an item in read_write mode, and a query with variables reads it back',
      ...gql('mutation Add($id: ID!) { addItem(id: $id, name: "kept") { id name } }', { variables: { id: 'c1' } }, 'read_write'),
      check: async (result, via) => {
        assert.deepEqual(answer(result).body, { data: { addItem: { id: 'c1', name: 'kept' } } });
        const read = await via.execute(gql('query Get($id: ID!) { item(id: $id) { name } }', { variables: { id: 'c1' } }));
        assert.deepEqual(answer(read).body, { data: { item: { name: 'kept' } } });
      },
    },
    {
      name: 'operation_name selects among several queries; the bearer token a field echoes is masked',
      ...gql('query A { hello } query B { header(name: "authorization") }', { operation_name: 'B' }),
      check: (result) => assert.deepEqual(answer(result).body, { data: { header: 'Bearer ********' } }),
    },
    {
      name: 'GraphQL errors come back as data with the upstream status',
      ...gql('{ noSuchField }'),
      check: (result) => {
        assert.equal(answer(result).status, 400);
        assert.ok(Array.isArray(answer(result).body.errors));
      },
    },
  ],
  readMode: {
    writes: [
      gql('mutation { addItem(id: "refused", name: "x") { id } }'),
      gql('mutation GetItems { removeItem(id: "c1") }'), // a mutation named like a read
      gql('query Q { hello } mutation M { removeItem(id: "c1") }', { operation_name: 'Q' }),
      gql('mutation { ...Remove } fragment Remove on Mutation { removeItem(id: "c1") }'),
      gql('{ ... on Mutation { removeItem(id: "c1") } }'),
      gql('subscription { hello }'),
    ],
    snapshot: async () => [...peer.items.entries()],
  },
  truncation: {
    maxBytes: {
      ...gql('{ items(count: 50) { id name } }'),
      limit: JSON.stringify(HELLO).length,
      check: (result) => assert.equal((answer(result).body as unknown as string).length, JSON.stringify(HELLO).length),
      exact: gql('{ hello }'),
    },
  },
  restart: { restartPeer: () => peer.restart() },
});

const open = (t: TestContext) => openPeer(t, graphql, config);

describe('graphql', () => {
  test('read mode runs a query, even one spreading fragments, and refuses mutations behind names and fragments', async (t) => {
    const api = open(t);
    const read = await api.execute(gql('query Named { ...Greeting } fragment Greeting on Query { hello(name: "agent") }'));
    assert.deepEqual(answer(read).body, { data: { hello: 'hello agent' } });
    for (const query of [
      'mutation ReadOnlyLooking { addItem(id: "x", name: "y") { id } }',
      '# query\nmutation { addItem(id: "x", name: "y") { id } }',
      'fragment F on Mutation { addItem(id: "x", name: "y") { id } } mutation { ...F }',
    ]) {
      assert.equal((await expectFailure(api.execute(gql(query)))).code, 'read_only', query);
    }
    assert.equal(peer.items.has('x'), false);
  });

  test('a document that does not parse, or an operation_name that selects nothing, is validation_failed', async (t) => {
    const api = open(t);
    const cases: [Call, string][] = [
      [gql('{ hello '), 'query'],
      [gql('fragment F on Query { hello }'), 'query'],
      [gql('query A { hello } query B { hello }'), 'operation_name'],
      [gql('query A { hello }', { operation_name: 'Missing' }), 'operation_name'],
    ];
    for (const [item, path] of cases) {
      const error = await expectFailure(api.execute(item));
      assert.equal(error.code, 'validation_failed');
      assert.deepEqual(error.errors?.map((e) => e.path), [path]);
    }
    const inWriteMode = await expectFailure(api.execute(gql('mutation {', {}, 'read_write')));
    assert.equal(inWriteMode.code, 'validation_failed');
  });

  test('the endpoint of something that is not GraphQL fails the connection test', async (t) => {
    const result = await open(t).harness.test('graphql', { ...config, endpoint: `${peer.origin}/nothing-here` });
    assert.equal(result.error_code, 'upstream_not_found', result.message);
  });
});
