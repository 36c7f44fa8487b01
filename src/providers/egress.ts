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

// Link-local ranges host the cloud metadata services (169.254.169.254, AWS's fd00:ec2::254): credentials live there.
const METADATA = subnets([
  ['169.254.0.0', 16],
  ['fe80::', 10],
  ['fd00:ec2::254', 128],
]);
const METADATA_HOSTNAMES = new Set(['metadata.google.internal']);

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

export function classifyAddress(ip: string): AddressKind {
  const family = net.isIP(ip);
  if (family === 0) return 'reserved';
  const v4 = family === 6 ? nat64Ipv4(ip) : undefined;
  if (v4 !== undefined) return classifyAddress(v4);
  const type = family === 6 ? 'ipv6' : 'ipv4';
  // BlockList matches IPv4-mapped IPv6 addresses (::ffff:127.0.0.1) against the IPv4 rules itself.
  if (METADATA.check(ip, type)) return 'metadata';
  if (PRIVATE.check(ip, type)) return 'private';
  if (RESERVED.check(ip, type)) return 'reserved';
  if (type === 'ipv6' && !GLOBAL_UNICAST_V6.check(ip, 'ipv6') && !ip.toLowerCase().startsWith('::ffff:')) {
    return 'reserved';
  }
  return 'public';
}

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
    const bare = host.replace(/^\[(.*)\]$/, '$1');
    if (net.isIP(bare)) return checkAddress(bare, this.policy);
    if (this.policy !== 'any' && METADATA_HOSTNAMES.has(bare.toLowerCase().replace(/\.$/, ''))) {
      return `${bare} is a cloud metadata host`;
    }
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

/** The IPv4 address inside a NAT64 address (64:ff9b::/96), which DNS64 networks hand out for IPv4-only hosts. */
function nat64Ipv4(ip: string): string | undefined {
  const match = /^64:ff9b::(?:([0-9a-f]{1,4}):([0-9a-f]{1,4})|(\d+\.\d+\.\d+\.\d+))$/i.exec(ip);
  if (!match) return undefined;
  if (match[3]) return match[3];
  const high = parseInt(match[1] ?? '0', 16);
  const low = parseInt(match[2] ?? '0', 16);
  return [high >> 8, high & 255, low >> 8, low & 255].join('.');
}
