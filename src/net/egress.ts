import dns from 'node:dns';
import net from 'node:net';
import tls from 'node:tls';
import type { EgressPolicy } from '../config.js';

/**
 * PATCHBAY_EGRESS (DESIGN.md section 3): which destinations a connector, a test or a webhook may reach.
 * The check runs when a socket dials, on the address actually dialled: names go through `lookup` (so DNS
 * rebinding and addresses a server hands back are checked), IP literals and Unix sockets through the
 * guarded socket's own connect(). Providers open sockets only through an EgressGuard (src/providers/README.md).
 */

type AddressKind = 'public' | 'private' | 'metadata' | 'reserved';

const subnets = (entries: [string, number][]): net.BlockList => {
  const list = new net.BlockList();
  for (const [network, prefix] of entries) list.addSubnet(network, prefix, net.isIPv6(network) ? 'ipv6' : 'ipv4');
  return list;
};

// Where clouds serve instance metadata and credentials: link-local (169.254.169.254 of AWS, GCP, Azure IMDS,
// OpenStack and others, 169.254.170.2 of ECS tasks, Tencent's 169.254.0.23), AWS's IPv6 endpoint, Alibaba's
// 100.100.100.200 (inside carrier-grade NAT), Azure's WireServer and Oracle's legacy endpoint.
const METADATA = subnets([
  ['169.254.0.0', 16],
  ['fe80::', 10],
  ['fd00:ec2::254', 128],
  ['100.100.100.200', 32],
  ['168.63.129.16', 32],
  ['192.0.0.192', 32],
]);
// Names of the metadata services, refused before any lookup (`metadata` is what GCE's search path completes).
const METADATA_HOSTNAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
  'metadata.platformequinix.com',
]);

const PRIVATE = subnets([
  ['10.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['127.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['::1', 128],
  ['fc00::', 7], // unique local
]);

// Neither public unicast nor private: "this network" (0.0.0.0 reaches the local host), multicast, broadcast,
// documentation and benchmarking ranges, and IPv6 transition prefixes that tunnel to arbitrary IPv4 hosts.
const RESERVED = subnets([
  ['0.0.0.0', 8],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
  ['2001::', 32], // Teredo
  ['2001:db8::', 32],
  ['2002::', 16], // 6to4
]);
// Outside 2000::/3 IPv6 holds no public unicast address.
const GLOBAL_UNICAST_V6 = subnets([['2000::', 3]]);

/** What an address is for the policy; anything that is not an address in some spelling is `reserved`. */
export function classifyAddress(address: string): AddressKind {
  const ip = canonicalAddress(address);
  if (ip === undefined) return 'reserved';
  const type = net.isIPv6(ip) ? 'ipv6' : 'ipv4';
  if (METADATA.check(ip, type)) return 'metadata';
  if (PRIVATE.check(ip, type)) return 'private';
  if (RESERVED.check(ip, type)) return 'reserved';
  if (type === 'ipv6' && !GLOBAL_UNICAST_V6.check(ip, 'ipv6')) return 'reserved';
  return 'public';
}

/**
 * One spelling per address, so that no form slips past the tables: brackets and an IPv6 zone id dropped, IPv6
 * in full lower-case groups, an IPv4 address inside IPv4-mapped (::ffff:0:0/96) or NAT64 (64:ff9b::/96) IPv6 as
 * that IPv4 address (both reach it), and IPv4 in every form inet_aton reads (`0x7f.1`, `2130706433`, `0177.0.0.1`)
 * as a dotted quad. Undefined for a text that is no address (a host name).
 */
export function canonicalAddress(text: string): string | undefined {
  const bare = text.trim().replace(/^\[(.*)\]$/, '$1');
  const zone = bare.indexOf('%');
  const v6 = zone > 0 ? bare.slice(0, zone) : bare;
  if (net.isIPv6(v6)) {
    const bytes = ipv6Bytes(v6);
    const embedsV4 =
      bytes.subarray(0, 12).equals(V4_MAPPED_PREFIX) || bytes.subarray(0, 12).equals(NAT64_PREFIX);
    if (embedsV4) return [...bytes.subarray(12)].join('.');
    const groups: string[] = [];
    for (let i = 0; i < 16; i += 2) groups.push(bytes.readUInt16BE(i).toString(16));
    return groups.join(':');
  }
  return inetAton(bare.replace(/\.$/, ''));
}

const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
const NAT64_PREFIX = Buffer.from([0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0]);

/** The 16 bytes of a valid IPv6 text (net.isIPv6 holds), an embedded dotted IPv4 tail included. */
function ipv6Bytes(ip: string): Buffer {
  let text = ip.toLowerCase();
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = rest === undefined || rest === '' ? [] : rest.split(':');
  const groups = rest === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const bytes = Buffer.alloc(16);
  groups.forEach((group, i) => bytes.writeUInt16BE(parseInt(group, 16), i * 2));
  return bytes;
}

/** IPv4 as inet_aton (and so getaddrinfo) reads it: 1 to 4 parts, each decimal, octal (leading 0) or hex (0x). */
function inetAton(text: string): string | undefined {
  if (!/^(?:0x[0-9a-f]*|\d+)(?:\.(?:0x[0-9a-f]*|\d+)){0,3}$/i.test(text)) return undefined;
  const parts: number[] = [];
  for (const part of text.split('.')) {
    const value = /^0x/i.test(part) ? parseInt(part.slice(2) || '0', 16) : /^0\d/.test(part) ? parseOctal(part) : Number(part);
    if (!Number.isSafeInteger(value)) return undefined;
    parts.push(value);
  }
  const last = parts.pop() ?? 0;
  if (parts.some((part) => part > 255) || last >= 256 ** (4 - parts.length)) return undefined;
  const bytes = [...parts];
  for (let shift = (3 - parts.length) * 8; shift >= 0; shift -= 8) bytes.push(Math.floor(last / 2 ** shift) % 256);
  return bytes.join('.');
}

const parseOctal = (digits: string): number => (/^[0-7]+$/.test(digits) ? parseInt(digits, 8) : NaN);

/** Undefined when the policy allows dialling `ip`, else the reason it does not. */
export function checkAddress(ip: string, policy: EgressPolicy): string | undefined {
  if (policy === 'any') return undefined;
  switch (classifyAddress(ip)) {
    case 'public':
      return undefined;
    case 'private':
      return policy === 'private' ? undefined : `${ip} is a private or loopback address (PATCHBAY_EGRESS=public)`;
    case 'metadata':
      return `${ip} is a link-local or cloud metadata address`;
    case 'reserved':
      return `${ip} is not a routable unicast address`;
  }
}

/** Thrown (or emitted on a socket) when a destination is outside the policy; the harness maps it to egress_denied. */
export class EgressDeniedError extends Error {
  readonly code = 'EGRESS_DENIED';
  constructor(reason: string) {
    super(`egress denied: ${reason}`);
    this.name = 'EgressDeniedError';
  }
}

/**
 * The one way a provider reaches the network. Pass `socket` as a client library's socket factory, or use
 * `connect`/`tlsConnect`; only where a library takes nothing but a lookup function, pass `lookup` and call
 * `assertHost` on every host it will dial (an IP literal never reaches a lookup function).
 */
export class EgressGuard {
  constructor(readonly policy: EgressPolicy) {}

  /** dns.lookup that drops every address outside the policy and fails with EGRESS_DENIED when none is left. */
  readonly lookup: net.LookupFunction = (hostname, options, callback) => {
    const refusal = this.refuseHost(hostname);
    if (refusal !== undefined) {
      callback(new EgressDeniedError(refusal), '', 0);
      return;
    }
    dns.lookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) {
        callback(error, '', 0);
        return;
      }
      const allowed = addresses.filter(({ address }) => checkAddress(address, this.policy) === undefined);
      const first = allowed[0];
      if (first === undefined) {
        const reason = addresses[0] ? checkAddress(addresses[0].address, this.policy) : 'no address';
        callback(new EgressDeniedError(`${hostname} resolves to ${reason}`), '', 0);
      } else if (options.all) {
        callback(null, allowed);
      } else {
        callback(null, first.address, first.family);
      }
    });
  };

  /**
   * Undefined when `host` may be dialled as far as can be told before resolving it: an IP literal is checked
   * here, a name is checked again by `lookup` on each address it resolves to.
   */
  refuseHost(host: string): string | undefined {
    if (canonicalAddress(host) !== undefined) return checkAddress(host, this.policy);
    const name = host.trim().toLowerCase().replace(/\.$/, '');
    if (this.policy !== 'any' && METADATA_HOSTNAMES.has(name)) return `${name} is a cloud metadata host`;
    return undefined;
  }

  /** Throws EgressDeniedError for a host that `refuseHost` refuses. */
  assertHost(host: string): void {
    const refusal = this.refuseHost(host);
    if (refusal !== undefined) throw new EgressDeniedError(refusal);
  }

  /** An unconnected socket whose connect() obeys the policy; for socket-factory options (pg's `stream`). */
  socket(options?: net.SocketConstructorOpts): net.Socket {
    return new GuardedSocket(this, options);
  }

  connect(options: net.TcpNetConnectOpts): net.Socket {
    return this.socket().connect(options);
  }

  /** TLS over a guarded socket; `servername` defaults to the host name, as tls.connect's does. */
  tlsConnect(options: tls.ConnectionOptions & { host: string; port: number }): tls.TLSSocket {
    const { host, port } = options;
    const servername = options.servername ?? (net.isIP(host) ? undefined : host);
    return tls.connect({ ...options, servername, socket: this.connect({ host, port }) });
  }
}

/**
 * A net.Socket whose connect() refuses what the policy refuses before a packet leaves: IP literals and
 * Unix socket paths here, names through the guard's lookup. Refusals arrive as an 'error' event, the same
 * way a refused connection does, so client libraries report them through their usual path.
 */
class GuardedSocket extends net.Socket {
  constructor(
    private readonly guard: EgressGuard,
    options?: net.SocketConstructorOpts,
  ) {
    super(options);
  }

  // Covers every overload of net.Socket#connect: (options[, listener]), (port[, host][, listener]), (path[, listener]).
  override connect(...args: unknown[]): this {
    const listener = typeof args.at(-1) === 'function' ? (args.pop() as () => void) : undefined;
    const [first, second] = args;
    let options: net.SocketConnectOpts;
    if (typeof first === 'object' && first !== null) options = first as net.SocketConnectOpts;
    else if (typeof first === 'string' && !/^\d+$/.test(first)) options = { path: first };
    else options = { port: Number(first), host: typeof second === 'string' ? second : undefined };

    let refusal: string | undefined;
    if ('path' in options) {
      refusal = this.guard.policy === 'any' ? undefined : 'Unix sockets are reachable only with PATCHBAY_EGRESS=any';
    } else {
      refusal = this.guard.refuseHost(options.host ?? 'localhost');
      options = { ...options, lookup: this.guard.lookup };
    }
    if (refusal !== undefined) {
      const error = new EgressDeniedError(refusal);
      process.nextTick(() => this.destroy(error));
      return this;
    }
    return listener ? super.connect(options, listener) : super.connect(options);
  }
}
