import { execFile, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { itemsWsdl } from './http-peers.js';
import { closedPort } from './listeners.js';
import { missingCommands, startServerProcess, type Missing } from './server-processes.js';
import { TcpStub } from './tcp-stub.js';

/**
 * Private TLS servers for the TLS tests, each on 127.0.0.1 at a free port, with certificates from a CA made
 * for the run (openssl); the PostgreSQL cluster also without TLS, for tests that stop and start it. The server certificate names only IP:127.0.0.1, so dialling `localhost` is a host name
 * mismatch on every server; a second CA that signed nothing stands for "an authority the server does not use".
 * Start each server once per file with top-level await, stop it in a top-level `after`.
 */

/** What `missingCommands` says cannot start. */
const TLS_SERVER = 'a private TLS server';

export interface Pki {
  dir: string;
  /** PEM of the CA that signed the server and client certificates. */
  ca: string;
  /** PEM of a CA that signed nothing here: trusting only it fails verification. */
  otherCa: string;
  /** Server certificate (SAN IP:127.0.0.1 only) and key, as files for the servers. */
  serverCertFile: string;
  serverKeyFile: string;
  caFile: string;
  /** Client certificate (CN=postgres, clientAuth) and key, as PEM for the connector config. */
  clientCert: string;
  clientKey: string;
  /** Removes the files; safe to call twice. */
  remove(): void;
}

function openssl(dir: string, args: string[]): void {
  const made = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`openssl ${args[0]} failed: ${made.stderr}`);
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

function signed(dir: string, name: string, subject: string, extensions: string[]): void {
  openssl(dir, ['req', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', subject]);
  writeFileSync(path.join(dir, `${name}.ext`), `${extensions.join('\n')}\n`);
  openssl(dir, [
    'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
    '-days', '2', '-out', `${name}.crt`, '-extfile', `${name}.ext`,
  ]);
}

/** A CA, a server certificate for IP:127.0.0.1, a client certificate, and an unrelated CA, in a fresh folder. */
export function makePki(): Pki | Missing {
  const missing = missingCommands(TLS_SERVER, 'openssl');
  if (missing) return missing;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-tls-'));
  const ca = (name: string, subject: string) =>
    openssl(dir, ['req', '-x509', ...EC_KEY, '-keyout', `${name}.key`, '-out', `${name}.crt`, '-days', '2', '-subj', subject]);
  ca('ca', '/CN=Patchbay Test CA');
  ca('other-ca', '/CN=Patchbay Unrelated CA');
  signed(dir, 'server', '/CN=patchbay-test-server', [
    'subjectAltName=IP:127.0.0.1',
    'extendedKeyUsage=serverAuth',
    'keyUsage=digitalSignature,keyEncipherment',
  ]);
  // CN=postgres: PostgreSQL's `cert` method maps the certificate's CN to the user name.
  signed(dir, 'client', '/CN=postgres', ['extendedKeyUsage=clientAuth', 'keyUsage=digitalSignature,keyEncipherment']);
  const read = (file: string) => readFileSync(path.join(dir, file), 'utf8');
  return {
    dir,
    ca: read('ca.crt'),
    otherCa: read('other-ca.crt'),
    caFile: path.join(dir, 'ca.crt'),
    serverCertFile: path.join(dir, 'server.crt'),
    serverKeyFile: path.join(dir, 'server.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

export interface TlsServer {
  host: string;
  port: number;
  /** A second port of the same server that requires a client certificate, where the server has one. */
  mtlsPort?: number;
  stop(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------------------------
// PostgreSQL

export interface PrivatePostgres extends TlsServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`: the superuser, trusted, on the cluster's own database. */
  url: string;
  /**
   * Stops the cluster, keeping its files: `immediate` (the default) drops every connection at once, `fast` ends
   * each session with 57P01 admin_shutdown first (`pg_ctl stop -m <mode>`).
   */
  halt(mode?: 'immediate' | 'fast'): Promise<void>;
  /** Starts a halted cluster again on the same port. */
  resume(): Promise<void>;
  /** Runs one SQL command as the superuser over the cluster's Unix socket (psql), e.g. ALTER SYSTEM. */
  psql(sql: string): void;
}

export interface TlsPostgres extends PrivatePostgres {
  /** A database whose pg_hba line is `hostssl … cert`: only a client certificate for user postgres gets in. */
  certDatabase: string;
}

/**
 * A PostgreSQL cluster of its own (initdb, pg_ctl) with ssl=on: every TCP connection must use TLS, and the
 * database `certdb` takes only a client certificate signed by the test CA.
 */
export async function startTlsPostgres(pki: Pki): Promise<TlsPostgres | Missing> {
  const cluster = await startPrivatePostgres(pki);
  return 'missing' in cluster ? cluster : { ...cluster, certDatabase: 'certdb' };
}

/**
 * A PostgreSQL cluster of its own (initdb, pg_ctl) on 127.0.0.1 at a free port, trusting every local connection,
 * that a test may stop and start: with a `pki`, TLS only (see startTlsPostgres); without, plain TCP. Runs as the
 * `postgres` user when this process is root (initdb refuses root).
 */
const TLS_FILES = ['server.crt', 'server.key', 'ca.crt'];

export async function startPrivatePostgres(pki?: Pki): Promise<PrivatePostgres | Missing> {
  const missing = missingCommands(pki ? TLS_SERVER : 'a private PostgreSQL cluster', 'initdb', 'pg_ctl', 'psql');
  if (missing) return missing;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pb-pg-'));
  const owner = os.userInfo().uid === 0 ? userIds('postgres') : undefined;
  if (os.userInfo().uid === 0 && !owner) {
    rmSync(dir, { recursive: true, force: true });
    return { missing: 'running as root and no postgres user exists to run initdb as' };
  }
  const data = path.join(dir, 'data');
  const sockets = path.join(dir, 'sockets');
  mkdirSync(sockets);
  const tlsFiles = pki ? TLS_FILES.map((file) => ({ from: path.join(pki.dir, file), to: path.join(dir, file) })) : [];
  // The server reads its key only when it is owned by the server's user and not readable by others.
  for (const { from, to } of tlsFiles) {
    writeFileSync(to, readFileSync(from));
    chmodSync(to, 0o600);
  }
  if (owner) for (const target of [dir, sockets, ...tlsFiles.map(({ to }) => to)]) chownSync(target, owner.uid, owner.gid);
  const run = (command: string, args: string[]) => {
    const done = spawnSync(command, args, { encoding: 'utf8', timeout: 60_000, ...(owner ?? {}) });
    if (done.status !== 0) throw new Error(`${command} failed: ${done.stderr || done.stdout}`);
  };
  run('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '--no-instructions']);
  const port = await closedPort();
  const conf = [
    `port = ${port}`,
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${sockets}'`,
    ...(pki
      ? [
          'ssl = on',
          `ssl_cert_file = '${path.join(dir, 'server.crt')}'`,
          `ssl_key_file = '${path.join(dir, 'server.key')}'`,
          `ssl_ca_file = '${path.join(dir, 'ca.crt')}'`,
        ]
      : []),
    'fsync = off',
    'max_connections = 30',
    'shared_buffers = 16MB',
    '',
  ].join('\n');
  writeFileSync(path.join(data, 'postgresql.conf'), conf, { flag: 'a' });
  const hba = pki
    ? [
        'hostssl certdb all 127.0.0.1/32 cert',
        'hostssl all all 127.0.0.1/32 trust',
        'hostnossl all all 127.0.0.1/32 reject',
      ]
    : ['host all all 127.0.0.1/32 trust'];
  writeFileSync(path.join(data, 'pg_hba.conf'), ['local all all trust', ...hba, ''].join('\n'));
  // Asynchronous, so that the process under test goes on (and sees its connections drop) while the cluster stops.
  const ctl = (action: string[]) =>
    new Promise<void>((resolve, reject) =>
      execFile('pg_ctl', ['-D', data, '-w', '-t', '30', '-l', path.join(dir, 'log'), ...action], { timeout: 60_000, ...(owner ?? {}) }, (error, stdout, stderr) =>
        error ? reject(new Error(`pg_ctl ${action.join(' ')} failed: ${stderr || stdout}`)) : resolve(),
      ),
    );
  await ctl(['start']);
  const psql = (sql: string) => run('psql', ['-h', sockets, '-p', String(port), '-U', 'postgres', '-d', 'postgres', '-qc', sql]);
  if (pki) psql('CREATE DATABASE certdb');
  let stopped = false;
  return {
    host: '127.0.0.1',
    port,
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    halt: async (mode = 'immediate') => ctl(['stop', '-m', mode]),
    resume: async () => ctl(['start']),
    psql,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      try {
        await ctl(['stop', '-m', 'immediate']);
      } catch {
        // already halted
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Redis, Mosquitto, NATS

/** redis-server with a TLS port only (no plain port); clients need no certificate. */
export async function startTlsRedis(pki: Pki): Promise<TlsServer | Missing> {
  const missing = missingCommands(TLS_SERVER, 'redis-server');
  if (missing) return missing;
  const port = await closedPort();
  const args = [
    '--port', '0', '--tls-port', String(port), '--bind', '127.0.0.1',
    '--tls-cert-file', pki.serverCertFile, '--tls-key-file', pki.serverKeyFile, '--tls-ca-cert-file', pki.caFile,
    '--tls-auth-clients', 'no', '--save', '', '--appendonly', 'no', '--dir', pki.dir,
  ];
  return startProcess('redis-server', args, [port]);
}

/**
 * Mosquitto with two TLS listeners: `port` takes any client, `mtlsPort` requires a client certificate signed
 * by the test CA.
 */
export async function startTlsMosquitto(pki: Pki): Promise<TlsServer | Missing> {
  const missing = missingCommands(TLS_SERVER, 'mosquitto');
  if (missing) return missing;
  const port = await closedPort();
  const mtlsPort = await closedPort();
  const files = [`cafile ${pki.caFile}`, `certfile ${pki.serverCertFile}`, `keyfile ${pki.serverKeyFile}`];
  const conf = path.join(pki.dir, `mosquitto-${port}.conf`);
  writeFileSync(
    conf,
    [
      // Started as root, Mosquitto would switch to a `mosquitto` user that cannot read these files.
      `user ${os.userInfo().username}`,
      'per_listener_settings true',
      `listener ${port} 127.0.0.1`,
      ...files,
      'allow_anonymous true',
      `listener ${mtlsPort} 127.0.0.1`,
      ...files,
      'require_certificate true',
      'allow_anonymous true',
      'persistence false',
      'log_dest none',
      '',
    ].join('\n'),
  );
  const server = await startProcess('mosquitto', ['-c', conf], [port, mtlsPort]);
  return 'missing' in server ? server : { ...server, mtlsPort };
}

/** nats-server with TLS required on its only port; clients need no certificate. */
export async function startTlsNats(pki: Pki): Promise<TlsServer | Missing> {
  const missing = missingCommands(TLS_SERVER, 'nats-server');
  if (missing) return missing;
  const port = await closedPort();
  const args = ['-a', '127.0.0.1', '-p', String(port), '--tls', '--tlscert', pki.serverCertFile, '--tlskey', pki.serverKeyFile, '--tlscacert', pki.caFile];
  return startProcess('nats-server', args, [port]);
}

// ---------------------------------------------------------------------------------------------------------------
// HTTPS

export interface HttpsPeer extends TlsServer {
  /** https://127.0.0.1:port */
  url: string;
  /** How many requests reached a handler (a failed handshake never does). */
  requests: number;
  /** `METHOD /path` of each request that reached a handler. */
  received: string[];
}

/**
 * An HTTPS server for rest, graphql, soap and webhooks: GET `/wsdl` answers the ItemService WSDL, POST
 * `/graphql` answers `{ data: { __typename: "Query" } }`, anything else 200 `{ "ok": true }`.
 */
export async function startHttpsPeer(pki: Pki): Promise<HttpsPeer> {
  const peer = { host: '127.0.0.1', port: 0, url: '', requests: 0, received: [] as string[] } as HttpsPeer;
  const server = https.createServer(
    { cert: readFileSync(pki.serverCertFile), key: readFileSync(pki.serverKeyFile) },
    (request, response) => {
      peer.requests += 1;
      peer.received.push(`${request.method} ${request.url}`);
      request.resume();
      request.on('end', () => {
        if (request.method === 'GET' && request.url?.startsWith('/wsdl')) {
          response.writeHead(200, { 'content-type': 'text/xml' }).end(itemsWsdl(`${peer.url}/soap`));
        } else if (request.method === 'POST' && request.url === '/graphql') {
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"data":{"__typename":"Query"}}');
        } else {
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
        }
      });
    },
  );
  server.on('tlsClientError', () => undefined); // refused handshakes are what these tests make
  const listener = new TcpStub(server);
  await listener.start();
  peer.port = listener.port;
  peer.url = `https://127.0.0.1:${peer.port}`;
  peer.stop = async () => void (await listener.stop());
  return peer;
}

// ---------------------------------------------------------------------------------------------------------------
// Processes

function userIds(name: string): { uid: number; gid: number } | undefined {
  const uid = spawnSync('id', ['-u', name], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', name], { encoding: 'utf8' });
  if (uid.status !== 0 || gid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

async function startProcess(command: string, args: string[], ports: number[]): Promise<TlsServer> {
  const server = await startServerProcess(command, args, ports);
  return { host: '127.0.0.1', port: ports[0]!, stop: server.stop };
}
