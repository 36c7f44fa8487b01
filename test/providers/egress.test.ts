import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { EgressPolicy } from '../../src/config.js';
import { checkAddress, EgressGuard } from '../../src/providers/egress.js';

// [address, allowed under public, allowed under private, allowed under any]
const table: [string, boolean, boolean, boolean][] = [
  ['8.8.8.8', true, true, true],
  ['2606:4700:4700::1111', true, true, true],
  ['127.0.0.1', false, true, true],
  ['::1', false, true, true],
  ['10.1.2.3', false, true, true],
  ['172.16.0.1', false, true, true],
  ['172.32.0.1', true, true, true],
  ['192.168.1.1', false, true, true],
  ['100.64.0.1', false, true, true],
  ['fd12:3456::1', false, true, true],
  ['169.254.169.254', false, false, true],
  ['169.254.0.1', false, false, true],
  ['fe80::1', false, false, true],
  ['fd00:ec2::254', false, false, true],
  ['::ffff:169.254.169.254', false, false, true],
  ['::ffff:127.0.0.1', false, true, true],
  ['::ffff:8.8.8.8', true, true, true],
  ['64:ff9b::a9fe:a9fe', false, false, true], // NAT64 form of 169.254.169.254
  ['0.0.0.0', false, false, true],
  ['224.0.0.1', false, false, true],
  ['255.255.255.255', false, false, true],
  ['::', false, false, true],
  ['ff02::1', false, false, true],
  ['not-an-ip', false, false, true],
];

describe('checkAddress', () => {
  for (const [address, ...expected] of table) {
    test(address, () => {
      const policies: EgressPolicy[] = ['public', 'private', 'any'];
      const allowed = policies.map((policy) => checkAddress(address, policy) === undefined);
      assert.deepEqual(allowed, expected);
    });
  }
});

function lookup(guard: EgressGuard, hostname: string, all = false) {
  return new Promise<{ error: NodeJS.ErrnoException | null; address: unknown }>((resolve) => {
    guard.lookup(hostname, { all }, (error, address) => resolve({ error, address }));
  });
}

describe('EgressGuard.lookup', () => {
  test('refuses localhost under public with EGRESS_DENIED', async () => {
    const { error } = await lookup(new EgressGuard('public'), 'localhost');
    assert.equal(error?.code, 'EGRESS_DENIED');
  });

  test('resolves localhost under private, one address or all', async () => {
    const guard = new EgressGuard('private');
    const one = await lookup(guard, 'localhost');
    assert.equal(one.error, null);
    assert.ok(net.isIP(one.address as string));
    const all = await lookup(guard, 'localhost', true);
    assert.equal(all.error, null);
    assert.ok(Array.isArray(all.address) && all.address.length > 0);
  });

  test('refuses the metadata host name before resolving it', async () => {
    const { error } = await lookup(new EgressGuard('private'), 'metadata.google.internal');
    assert.equal(error?.code, 'EGRESS_DENIED');
  });
});

describe('EgressGuard sockets', () => {
  function dial(guard: EgressGuard, host: string, port: number) {
    return new Promise<string>((resolve) => {
      const socket = guard.socket();
      socket.once('connect', () => {
        socket.destroy();
        resolve('connected');
      });
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
      socket.connect(port, host);
    });
  }

  test('an IP literal is checked although it never reaches a lookup', async () => {
    assert.equal(await dial(new EgressGuard('private'), '169.254.169.254', 80), 'EGRESS_DENIED');
    assert.equal(await dial(new EgressGuard('public'), '127.0.0.1', 9), 'EGRESS_DENIED');
  });

  test('a name resolving to a refused address is refused at connect', async () => {
    assert.equal(await dial(new EgressGuard('public'), 'localhost', 9), 'EGRESS_DENIED');
  });

  test('an allowed destination connects', async (t) => {
    const server = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    t.after(() => server.close());
    const { port } = server.address() as net.AddressInfo;
    assert.equal(await dial(new EgressGuard('private'), '127.0.0.1', port), 'connected');
    assert.equal(await dial(new EgressGuard('private'), 'localhost', port), 'connected');
  });

  test('Unix sockets are refused unless the policy is any', async () => {
    const socket = new EgressGuard('private').socket();
    const code = await new Promise<string | undefined>((resolve) => {
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code));
      socket.connect('/var/run/postgresql/.s.PGSQL.5432');
    });
    assert.equal(code, 'EGRESS_DENIED');
  });
});
