import assert from 'node:assert/strict';
import net from 'node:net';
import { describe, test } from 'node:test';
import type { EgressPolicy } from '../../src/config.js';
import { canonicalAddress, checkAddress, classifyAddress, EgressGuard } from '../../src/net/egress.js';

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
  // Cloud metadata outside link-local: Alibaba (inside 100.64/10), Azure WireServer, Oracle (inside 192.0.0/24).
  ['100.100.100.200', false, false, true],
  ['168.63.129.16', false, false, true],
  ['192.0.0.192', false, false, true],
  ['169.254.170.2', false, false, true], // ECS task metadata
  ['100.100.100.199', false, true, true],
  ['168.63.129.17', true, true, true],
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

// Spellings of one address a socket, a resolver or a URL may hand the guard; each must be classified as the address.
const spellings: [string, string, ReturnType<typeof classifyAddress>][] = [
  ['169.254.169.254', '169.254.169.254', 'metadata'],
  ['2852039166', '169.254.169.254', 'metadata'], // one decimal number
  ['0xa9fea9fe', '169.254.169.254', 'metadata'],
  ['0xA9.0xFE.0xA9.0xFE', '169.254.169.254', 'metadata'],
  ['0251.0376.0251.0376', '169.254.169.254', 'metadata'], // octal
  ['169.254.43518', '169.254.169.254', 'metadata'], // a.b.c16
  ['169.16689662', '169.254.169.254', 'metadata'], // a.b24
  ['169.254.169.254.', '169.254.169.254', 'metadata'], // trailing root dot
  ['::ffff:169.254.169.254', '169.254.169.254', 'metadata'],
  ['::ffff:a9fe:a9fe', '169.254.169.254', 'metadata'],
  ['::FFFF:A9FE:A9FE', '169.254.169.254', 'metadata'],
  ['0:0:0:0:0:ffff:a9fe:a9fe', '169.254.169.254', 'metadata'],
  ['[::ffff:a9fe:a9fe]', '169.254.169.254', 'metadata'],
  ['64:ff9b::a9fe:a9fe', '169.254.169.254', 'metadata'],
  ['64:ff9b::169.254.169.254', '169.254.169.254', 'metadata'],
  ['0x64646464', '100.100.100.100', 'private'], // Alibaba's neighbour in 100.64/10
  ['1684300232', '100.100.97.200', 'private'],
  ['100.100.100.200', '100.100.100.200', 'metadata'],
  ['0x646464c8', '100.100.100.200', 'metadata'],
  ['1684301000', '100.100.100.200', 'metadata'],
  ['::ffff:100.100.100.200', '100.100.100.200', 'metadata'],
  ['::ffff:6464:64c8', '100.100.100.200', 'metadata'],
  ['64:ff9b::6464:64c8', '100.100.100.200', 'metadata'],
  ['2822734096', '168.63.129.16', 'metadata'],
  ['0250.077.0201.020', '168.63.129.16', 'metadata'],
  ['::ffff:a83f:8110', '168.63.129.16', 'metadata'],
  ['64:ff9b::a83f:8110', '168.63.129.16', 'metadata'],
  ['3221225664', '192.0.0.192', 'metadata'],
  ['::ffff:c000:c0', '192.0.0.192', 'metadata'],
  ['FD00:EC2::254', 'fd00:ec2:0:0:0:0:0:254', 'metadata'],
  ['fd00:0ec2:0000::0254', 'fd00:ec2:0:0:0:0:0:254', 'metadata'],
  ['[fd00:ec2::254]', 'fd00:ec2:0:0:0:0:0:254', 'metadata'],
  ['fe80::1%eth0', 'fe80:0:0:0:0:0:0:1', 'metadata'],
  ['FE80::A9FE:A9FE%25', 'fe80:0:0:0:0:0:a9fe:a9fe', 'metadata'],
  ['0x7f.1', '127.0.0.1', 'private'],
  ['2130706433', '127.0.0.1', 'private'],
  ['0177.0.0.01', '127.0.0.1', 'private'],
  ['127.1', '127.0.0.1', 'private'],
  ['::ffff:7f00:1', '127.0.0.1', 'private'],
  ['0', '0.0.0.0', 'reserved'],
  ['::', '0:0:0:0:0:0:0:0', 'reserved'],
  ['::a9fe:a9fe', '0:0:0:0:0:0:a9fe:a9fe', 'reserved'], // IPv4-compatible: deprecated, never routed
  ['2002:a9fe:a9fe::1', '2002:a9fe:a9fe:0:0:0:0:1', 'reserved'], // 6to4 embedding the metadata address
  ['2001:0:a9fe:a9fe::', '2001:0:a9fe:a9fe:0:0:0:0', 'reserved'], // Teredo
  ['8.8.8.8', '8.8.8.8', 'public'],
  ['0x08080808', '8.8.8.8', 'public'],
  ['2606:4700:4700::1111', '2606:4700:4700:0:0:0:0:1111', 'public'],
];

describe('canonicalAddress and classifyAddress: every spelling is its address', () => {
  for (const [spelling, canonical, kind] of spellings) {
    test(spelling, () => {
      assert.equal(canonicalAddress(spelling), canonical);
      assert.equal(classifyAddress(spelling), kind);
    });
  }

  test('host names and malformed numbers are not addresses', () => {
    for (const name of ['metadata.google.internal', 'example.com', '1.2.3.4.5', '256.1.1.1', '1.2.3.0x100', '08.1.1.1', '4294967296', '', '1.2.3.4x']) {
      assert.equal(canonicalAddress(name), undefined, name);
      assert.equal(classifyAddress(name), 'reserved', name);
    }
  });
});

describe('EgressGuard.refuseHost, before any lookup', () => {
  test('every spelling of a metadata address is refused under public and private, and passes under any', () => {
    const metadata = spellings.filter(([, , kind]) => kind === 'metadata').map(([spelling]) => spelling);
    for (const policy of ['public', 'private'] as const) {
      const guard = new EgressGuard(policy);
      for (const spelling of metadata) assert.match(guard.refuseHost(spelling) ?? '', /metadata/, `${policy} ${spelling}`);
    }
    for (const spelling of metadata) assert.equal(new EgressGuard('any').refuseHost(spelling), undefined, spelling);
  });

  test('metadata host names in any case, with a root dot, are refused under public and private', () => {
    const names = ['metadata', 'metadata.google.internal', 'METADATA.Google.Internal.', 'metadata.goog', 'instance-data', 'instance-data.ec2.internal', 'metadata.tencentyun.com'];
    for (const policy of ['public', 'private'] as const) {
      for (const name of names) assert.match(new EgressGuard(policy).refuseHost(name) ?? '', /metadata host/, `${policy} ${name}`);
    }
    assert.equal(new EgressGuard('any').refuseHost('metadata.google.internal'), undefined);
    assert.equal(new EgressGuard('public').refuseHost('metadata.example.com'), undefined, 'a lookup decides an ordinary name');
  });

  test('loopback shorthand is private: refused under public only', () => {
    for (const spelling of ['127.1', '0x7f.1', '2130706433', '[::ffff:7f00:1]']) {
      assert.match(new EgressGuard('public').refuseHost(spelling) ?? '', /private or loopback/, spelling);
      assert.equal(new EgressGuard('private').refuseHost(spelling), undefined, spelling);
    }
  });
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
