import type { MongoClient, MongoClientOptions, ServerHeartbeatFailedEvent, ServerOpeningEvent } from 'mongodb';
import { EgressDeniedError, type EgressGuard } from '../../net/egress.js';
import type { MongoConfig } from './inputs.js';
import type { ConnectContext } from '../types.js';
import { parseConnectionString } from './connection-string.js';

/**
 * A connected MongoClient for a config: the seeds checked against the egress policy, every host name resolved
 * through the guarded lookup, at most poolMax connections per server, and connect_timeout_ms for connecting.
 * `refusedMember` tells whether the driver has since discovered a member the policy refuses (watchMembers).
 */
export async function openClient(
  Client: typeof MongoClient,
  settings: MongoConfig,
  ctx: ConnectContext,
): Promise<{ client: MongoClient; database: string; refusedMember: () => Error | undefined }> {
  const target = loginTarget(settings);
  // The driver resolves every host name through ctx.egress.lookup, but Node dials an IP literal without a
  // lookup: the seeds are checked here, and members the server names later by watchMembers.
  for (const host of target.hosts) ctx.egress.assertHost(host);
  const client = new Client(target.url, {
    ...target.options,
    ...tlsOptions(settings),
    lookup: ctx.egress.lookup,
    maxPoolSize: ctx.poolMax,
    minPoolSize: 0,
    // connect_timeout_ms bounds the socket, the handshake and the wait for a usable server alike.
    connectTimeoutMS: settings.connect_timeout_ms,
    serverSelectionTimeoutMS: settings.connect_timeout_ms,
    appName: 'patchbay',
  });
  const refusedMember = watchMembers(client, ctx.egress);
  try {
    await connectClient(client, target.seeds, ctx.signal);
    const refused = refusedMember();
    if (refused) throw refused;
  } catch (error) {
    await client.close().catch(() => undefined);
    throw refusedMember() ?? error;
  }
  return { client, database: target.database, refusedMember };
}

interface LoginTarget {
  url: string;
  /** Seed hosts, bare (IPv6 without brackets). */
  hosts: string[];
  /** How many seeds the driver dials first; undefined for mongodb+srv, whose seeds DNS names later. */
  seeds: number | undefined;
  database: string;
  options: MongoClientOptions;
}

/** Where and as whom to log in: connection_string or the separate fields; `database` always wins. */
function loginTarget(settings: MongoConfig): LoginTarget {
  if (settings.connection_string !== undefined) {
    const parsed = parseConnectionString(settings.connection_string);
    const seeds = parsed.srv ? undefined : parsed.hosts.length;
    const topologyChosen = ['directconnection', 'replicaset', 'loadbalanced'].some((name) => parsed.options.has(name));
    return {
      url: settings.connection_string,
      hosts: parsed.hosts,
      seeds,
      database: (settings.database ?? parsed.database) as string, // refine requires one of them
      // One host and no word on the topology: talk to that server alone, so no member it names gets dialled.
      options: { ...(settings.tls ? { tls: true } : {}), ...(seeds === 1 && !topologyChosen ? { directConnection: true } : {}) },
    };
  }
  const host = settings.host as string; // refine requires host without connection_string
  const database = settings.database as string;
  return {
    url: `mongodb://${host.includes(':') ? `[${host}]` : host}:${settings.port}/`,
    hosts: [host],
    seeds: 1,
    database,
    options: {
      directConnection: true,
      tls: settings.tls,
      ...(settings.username === undefined
        ? {}
        : {
            auth: { username: settings.username, password: settings.password },
            authSource: settings.auth_source ?? database,
          }),
    },
  };
}

function tlsOptions(settings: MongoConfig): MongoClientOptions {
  return {
    ...(settings.tls_ca === undefined ? {} : { ca: settings.tls_ca }),
    ...(settings.tls_cert === undefined ? {} : { cert: settings.tls_cert, key: settings.tls_key }),
    rejectUnauthorized: settings.tls_reject_unauthorized,
  };
}

/**
 * client.connect(), but failing at once when no seed can be reached (the driver would otherwise wait out
 * serverSelectionTimeoutMS, which ends with the harness deadline), and when the connect deadline aborts. Once
 * any server has answered, or for mongodb+srv (whose seeds are not known here), server selection decides.
 */
function connectClient(client: MongoClient, seeds: number | undefined, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const failed = new Set<string>();
    const unreachable = ({ connectionId, failure }: ServerHeartbeatFailedEvent) => {
      failed.add(connectionId);
      if (seeds !== undefined && failed.size >= seeds) reject(failure);
    };
    const answered = () => client.off('serverHeartbeatFailed', unreachable);
    const aborted = () => reject(signal.reason);
    client.on('serverHeartbeatFailed', unreachable);
    client.once('serverHeartbeatSucceeded', answered);
    signal.addEventListener('abort', aborted, { once: true });
    client
      .connect()
      .then(() => resolve(), reject)
      .finally(() => {
        client.off('serverHeartbeatFailed', unreachable);
        client.off('serverHeartbeatSucceeded', answered);
        signal.removeEventListener('abort', aborted);
      });
  });
}

/**
 * Checks each member the driver adds to the topology (a replica set's `hosts`). A member named by host name is
 * refused by the guarded lookup before any packet leaves; one named by an IP literal outside the policy is
 * only seen here, as the driver starts monitoring it: the client is closed and every call fails with
 * egress_denied from then on. Returns the refusal, if any.
 */
function watchMembers(client: MongoClient, egress: EgressGuard): () => Error | undefined {
  let refused: Error | undefined;
  client.on('serverOpening', ({ address }: ServerOpeningEvent) => {
    const reason = egress.refuseHost(address.slice(0, address.lastIndexOf(':')));
    if (reason === undefined || refused !== undefined) return;
    refused = new EgressDeniedError(`the server named a member outside the egress policy: ${reason}`);
    void client.close().catch(() => undefined);
  });
  return () => refused;
}
