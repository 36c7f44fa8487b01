import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, test, type TestContext } from 'node:test';
import type { ExecuteResult } from '../../src/providers/harness.js';
import soap from '../../src/providers/soap/index.js';
import { argsIssues } from '../../src/providers/soap/args.js';
import { startSoapPeer, startStaticPeer } from '../support/http-peers.js';
import { describeProvider, expectFailure, openPeer, type Call, type Config } from './conformance.js';

const unique = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
const login = { username: 'patchbay', password: unique('Canary-password') };
const peer = await startSoapPeer({ basic: login });
after(() => peer.stop());

const config = { wsdl_url: peer.wsdlUrl, ...login, read_methods: ['GetItem', 'ListItems'] };
const soapCall = (method: string, args: Record<string, unknown>, mode?: Call['mode']): Call => ({ input: { method, args }, mode });
const result = (executed: ExecuteResult) => (executed.data as { result: Record<string, unknown> }).result;

describeProvider(soap, {
  config,
  at: ({ host, port }) => ({ ...config, wsdl_url: `http://${host}:${port}/soap?wsdl` }),
  probe: soapCall('ListItems', { count: 1 }),
  schema: {
    bad: [
      { config: { ...config, wsdl_url: 'file:///etc/service.wsdl' }, path: 'wsdl_url' },
      { config: { wsdl_url: peer.wsdlUrl, username: 'patchbay' }, path: 'password' },
      { config: { wsdl_url: peer.wsdlUrl, ws_security: true }, path: 'username' },
      { config: { ...config, read_methods: [''] }, path: 'read_methods.0' },
    ],
  },
  connectionTest: { message: /^WSDL lists 4 operations: GetItem, ListItems, AddItem, Explode$/ },
  auth: { configs: [{ ...config, password: unique('wrong-password') }] },
  tls: { config: ({ host, port }) => ({ ...config, wsdl_url: `https://${host}:${port}/soap?wsdl` }) },
  secrets: { configs: [{ ...config, password: unique('Canary-wrong') }] },
  operations: [
    {
      name: 'AddItem writes in read_write mode, and GetItem reads it back by its qualified name',
      ...soapCall('AddItem', { id: 'c1', name: 'kept' }, 'read_write'),
      check: async (executed, via) => {
        assert.deepEqual(result(executed), { ok: true });
        const read = await via.execute(soapCall('ItemService.ItemPort.GetItem', { id: 'c1' }));
        assert.deepEqual(result(read), { id: 'c1', name: 'kept' });
      },
    },
    {
      name: 'ListItems returns a repeated element as an array',
      ...soapCall('ListItems', { count: 3 }),
      check: (executed) => assert.deepEqual(result(executed), { item: ['item 0', 'item 1', 'item 2'] }),
    },
  ],
  readMode: {
    writes: [soapCall('AddItem', { id: 'refused', name: 'x' }), soapCall('ItemService.ItemPort.AddItem', { id: 'refused', name: 'x' })],
    snapshot: async () => [...peer.items.entries()],
  },
  truncation: {
    maxBytes: {
      ...soapCall('ListItems', { count: 1000 }),
      limit: 500,
      check: (executed) => {
        const data = executed.data as { result: unknown; raw: string };
        assert.equal(data.result, null);
        assert.ok(data.raw.startsWith('<?xml') && Buffer.byteLength(data.raw) <= 500, data.raw);
      },
    },
  },
  restart: { restartPeer: () => peer.restart() },
});

const open = (t: TestContext, settings: Config = config) => openPeer(t, soap, settings);

describe('soap', () => {
  test('a SOAP fault is upstream_error carrying the fault string', async (t) => {
    const api = open(t);
    const message = unique('the service broke');
    const fault = await expectFailure(api.execute(soapCall('Explode', { message }, 'read_write')));
    assert.equal(fault.code, 'upstream_error');
    assert.match(fault.message, new RegExp(message));
    const missing = await expectFailure(api.execute(soapCall('GetItem', { id: 'no-such-item' })));
    assert.equal(missing.code, 'upstream_error');
    assert.match(missing.message, /no item no-such-item/);
    assert.deepEqual(result(await api.execute(soapCall('ListItems', { count: 1 }))), { item: ['item 0'] }, 'the session still works');
  });

  test('read mode allows only read_methods: a listed method runs, any other is read_only', async (t) => {
    const api = open(t, { ...config, read_methods: ['ListItems'] });
    assert.deepEqual(result(await api.execute(soapCall('ListItems', { count: 1 }))), { item: ['item 0'] });
    assert.deepEqual(result(await api.execute(soapCall('ItemService.ItemPort.ListItems', { count: 1 }))), { item: ['item 0'] });
    for (const method of ['GetItem', 'AddItem', 'Explode']) {
      assert.equal((await expectFailure(api.execute(soapCall(method, { id: 'x', name: 'y', message: 'z' })))).code, 'read_only', method);
    }
    const none = open(t, { wsdl_url: peer.wsdlUrl, ...login });
    assert.equal((await expectFailure(none.execute(soapCall('ListItems', { count: 1 })))).code, 'read_only');
    assert.equal(peer.items.has('x'), false);
  });

  test('a method the WSDL does not have (a client member included) is validation_failed at method', async (t) => {
    const api = open(t);
    for (const method of ['NoSuchMethod', 'setSecurity', 'describe', 'constructor']) {
      const error = await expectFailure(api.execute(soapCall(method, {}, 'read_write')));
      assert.equal(error.code, 'validation_failed', method);
      assert.deepEqual(error.errors?.map((item) => item.path), ['method']);
    }
  });

  test('WS-Security: a UsernameToken the service accepts, and auth_failed for a wrong password', async (t) => {
    const secured = await startSoapPeer({ wsSecurity: login });
    t.after(() => secured.stop());
    const settings = { wsdl_url: secured.wsdlUrl, ...login, ws_security: true, read_methods: ['ListItems'] };
    assert.deepEqual(result(await open(t, settings).execute(soapCall('ListItems', { count: 1 }))), { item: ['item 0'] });
    const wrong = open(t, { ...settings, password: unique('wrong-password') });
    assert.equal((await expectFailure(wrong.execute(soapCall('ListItems', { count: 1 })))).code, 'auth_failed');
  });

  test('endpoint overrides the address in the WSDL', async (t) => {
    const other = await startSoapPeer({ basic: login });
    t.after(() => other.stop());
    other.items.set('only-there', 'other service');
    const api = open(t, { ...config, endpoint: `${other.origin}/soap` });
    assert.deepEqual(result(await api.execute(soapCall('GetItem', { id: 'only-there' }))), { id: 'only-there', name: 'other service' });
  });

  test('a WSDL that imports a local file is refused, and a missing WSDL is upstream_not_found', async (t) => {
    const wsdl = `<?xml version="1.0"?><definitions xmlns="http://schemas.xmlsoap.org/wsdl/" targetNamespace="urn:x">
      <import namespace="urn:y" location="file:///etc/hostname"/></definitions>`;
    const stray = await startStaticPeer({ '/service.wsdl': { type: 'text/xml', body: wsdl } });
    t.after(() => stray.stop());
    const harness = open(t).harness;
    const imported = await harness.test('soap', { wsdl_url: `${stray.origin}/service.wsdl` });
    assert.equal(imported.error_code, 'upstream_error', imported.message);
    assert.match(imported.message, /not an http\(s\) URL/);
    const missing = await harness.test('soap', { wsdl_url: `${stray.origin}/missing.wsdl` });
    assert.equal(missing.error_code, 'upstream_not_found', missing.message);
  });
});

describe('soap args are the WSDL input parts: the library escape hatches are refused', async () => {
  // This service runs what the body names, so a body smuggled under a read method's name would run.
  const peer = await startSoapPeer({ basic: login, byBody: true });
  after(() => peer.stop());
  const config = { wsdl_url: peer.wsdlUrl, ...login, read_methods: ['GetItem', 'ListItems'] };
  const open = (t: TestContext, settings: Config = config) => openPeer(t, soap, settings);
  const NS = 'http://patchbay.test/items';
  const addBody = (id: string) => `<tns:AddItemRequest xmlns:tns="${NS}"><tns:id>${id}</tns:id><tns:name>x</tns:name></tns:AddItemRequest>`;
    // [method, args, the path validation_failed names]
  const refused: [string, Record<string, unknown>, string][] = [
    ['GetItem', { _xml: addBody('evil-xml') }, 'args._xml'],
    ['GetItem', { $xml: addBody('evil-dollar-xml') }, 'args.$xml'],
    ['GetItem', { id: { $xml: `x</tns:id></tns:GetItemRequest>${addBody('evil-nested-xml')}<tns:GetItemRequest><tns:id>` } }, 'args.id.$xml'],
    ['GetItem', { id: { $value: 'x' } }, 'args.id.$value'],
    ['GetItem', { id: { attributes: { a: '"/>' } } }, 'args.id.attributes'],
    ['GetItem', { $attributes: { a: 'b' } }, 'args.$attributes'],
    ['GetItem', { $type: 'tns:AddItemRequest' }, 'args.$type'],
    ['GetItem', { attributes: { xsi_type: { type: 'AddItemRequest', xmlns: NS } } }, 'args.attributes'],
    ['GetItem', { _xmlns: 'urn:x' }, 'args._xmlns'],
    ['GetItem', { _XML: 'x' }, 'args._XML'],
    ['ListItems', { count: 1, filter: { $xml: addBody('evil-filter') } }, 'args.filter.$xml'],
    ['ListItems', { count: 1, filter: [{ prefix: 'a' }, { prefix: { $value: 'b' } }] }, 'args.filter.1.prefix.$value'],
    ['ListItems', { count: 1, filter: { prefix: 'a', other: 'b' } }, 'args.filter.other'],
    ['ListItems', { count: { inner: 1 } }, 'args.count'],
    ['GetItem', { id: 'a', name: 'b' }, 'args.name'],
    ['GetItem', { 'id><tns:AddItemRequest': 'x' }, 'args.id><tns:AddItemRequest'],
    ['GetItem', { 'tns:id': 'x' }, 'args.tns:id'],
    ['ItemService.ItemPort.GetItem', { _xml: addBody('evil-qualified') }, 'args._xml'],
  ];

  test('each special or undeclared key, at any depth, is validation_failed at its path and nothing is sent', async (t) => {
    const api = open(t);
    await api.execute(soapCall('ListItems', { count: 0 })); // the session is open
    const calls = () => peer.requests.filter((request) => request.method === 'POST').length;
    const sent = calls();
    const ran = peer.ran.length;
    for (const [method, args, path] of refused) {
      const error = await expectFailure(api.execute(soapCall(method, args)));
      assert.equal(error.code, 'validation_failed', `${method} ${JSON.stringify(args)}`);
      assert.deepEqual(error.errors?.map((item) => item.path), [path], JSON.stringify(args));
    }
    assert.equal(calls(), sent, 'no call reached the service');
    assert.deepEqual(peer.ran.slice(ran), []);
    assert.equal(peer.ran.includes('AddItem') && [...peer.items.keys()].some((id) => id.startsWith('evil')), false);
  });

  test('refused in read_write mode too, so that no method sends another one body', async (t) => {
    const api = open(t);
    const error = await expectFailure(api.execute(soapCall('Explode', { _xml: addBody('evil-rw') }, 'read_write')));
    assert.equal(error.code, 'validation_failed');
    assert.equal(peer.items.has('evil-rw'), false);
  });

  test('args are bounded: too deep or too many values is validation_failed, not a stack overflow', async (t) => {
    const api = open(t);
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i += 1) deep = [deep];
    const tooDeep = await expectFailure(api.execute(soapCall('ListItems', { count: deep })));
    assert.equal(tooDeep.code, 'validation_failed');
    assert.match(tooDeep.errors?.[0]?.message ?? '', /deeper than 32/);
    const tooMany = await expectFailure(api.execute(soapCall('ListItems', { count: Array.from({ length: 20_000 }, () => 1) })));
    assert.equal(tooMany.code, 'validation_failed');
    assert.match(tooMany.errors?.[0]?.message ?? '', /more than 10000 values/);
  });

  test('declared parts, nested ones and repeated values still go through and run the method asked for', async (t) => {
    const api = open(t);
    const ran = peer.ran.length;
    assert.deepEqual(result(await api.execute(soapCall('ListItems', { count: 2, filter: { prefix: 'kept' } }))), { item: ['kept 0', 'kept 1'] });
    assert.deepEqual(result(await api.execute(soapCall('ListItems', { count: 1, filter: {} }))), { item: ['item 0'] });
    assert.equal(result(await api.execute(soapCall('ListItems', {}))), null, 'no count: no items, an empty answer');
    peer.items.set('plain', 'text <with> & "markup"');
    assert.deepEqual(result(await api.execute(soapCall('GetItem', { id: 'plain' }))), { id: 'plain', name: 'text <with> & "markup"' });
    const text = await expectFailure(api.execute(soapCall('GetItem', { id: `</tns:id>${addBody('evil-text')}` })));
    assert.equal(text.code, 'upstream_error', 'a value is text: escaped, so the service looks up that odd id');
    assert.deepEqual(peer.ran.slice(ran), ['ListItems', 'ListItems', 'ListItems', 'GetItem', 'GetItem']);
    assert.equal(peer.items.has('evil-text'), false);
  });
});

describe('argsIssues', () => {
  const paths = (args: Record<string, unknown>, input: unknown) => argsIssues(args, input, 'M').map((error) => error.path);

  test('a described input: declared names, repeated ones as arrays, meta keys of the description are not parts', () => {
    const input = { user: { name: 'xsd:string', 'tag[]': 'xsd:string', targetNSAlias: 'tns' }, targetNamespace: 'urn:x' };
    assert.deepEqual(paths({ user: { name: 'a', tag: ['x', 'y'] } }, input), []);
    assert.deepEqual(paths({ targetNamespace: 'urn:y' }, input), ['args.targetNamespace']);
    assert.deepEqual(paths({ user: { targetNSAlias: 'x' } }, input), ['args.user.targetNSAlias']);
    assert.deepEqual(paths({ user: [{ name: 'a' }, { name: { $xml: '<x/>' } }] }, input), ['args.user.1.name.$xml']);
  });

  test('a part the library leaves undescribed (an rpc schema object) takes plain names only, never special keys', () => {
    class SchemaElement {
      children = [];
    }
    const input = { request: new SchemaElement() };
    assert.deepEqual(paths({ request: { a: { b: 1 }, c_d: [1] } }, input), []);
    assert.deepEqual(paths({ request: { a: { $value: 1 } } }, input), ['args.request.a.$value']);
    assert.deepEqual(paths({ request: { 'a b': 1 } }, input), ['args.request.a b']);
    assert.deepEqual(paths({ request: { 'x:y': 1 } }, input), ['args.request.x:y']);
    assert.deepEqual(paths({ other: 1 }, input), ['args.other']);
  });

  test('a method without input, or with a simple input element, takes no named args', () => {
    for (const input of [undefined, null, 'xsd:string']) {
      assert.deepEqual(paths({}, input), []);
      assert.deepEqual(paths({ a: 1 }, input), ['args.a']);
      assert.deepEqual(paths({ _xml: '<x/>' }, input), ['args._xml']);
    }
  });
});
