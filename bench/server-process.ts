/**
 * What a benchmark reads about a server process from the outside (Linux /proc, and the server's own /metrics):
 * its RSS, its CPU time, its open sockets by what they reach, and its pool gauges; and, for a server started with
 * heapProbeEnv, its live heap.
 */
import { readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import http from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** CPU milliseconds so far of the process or thread whose stat file this is (Linux), NaN elsewhere. */
export function cpuMs(statFile: string): number {
  try {
    // utime and stime, the 14th and 15th fields after the parenthesised command name, in clock ticks of 10 ms.
    const fields = readFileSync(statFile, 'utf8').split(') ')[1]?.split(' ') ?? [];
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** Resident set size of a process in MB (Linux), NaN once it is gone. */
export function rssMb(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+) kB/m);
    return line ? Number(line[1]) / 1024 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** A process's open sockets by what they reach: its HTTP port (listening, and accepted connections), PostgreSQL, Redis. */
export interface SocketCounts {
  listening: number;
  http: number;
  postgresql: number;
  redis: number;
  /** Other TCP peers, and Unix and other sockets. */
  other: number;
}

const TCP_LISTEN = '0A';

/** The TCP sockets of the machine's network namespace by inode: local port, remote port and state. */
function tcpSockets(pid: number): Map<string, { local: number; remote: number; state: string }> {
  const sockets = new Map<string, { local: number; remote: number; state: string }>();
  for (const table of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${table}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10) continue;
      const port = (address: string | undefined) => parseInt(address?.split(':').at(-1) ?? '', 16);
      sockets.set(fields[9]!, { local: port(fields[1]), remote: port(fields[2]), state: fields[3]! });
    }
  }
  return sockets;
}

/** Counts a process's sockets from its file descriptors; `httpPort` is the port it serves on. */
export function socketCounts(pid: number, httpPort: number): SocketCounts {
  const counts: SocketCounts = { listening: 0, http: 0, postgresql: 0, redis: 0, other: 0 };
  const tcp = tcpSockets(pid);
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return counts;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed meanwhile
    }
    const inode = target.match(/^socket:\[(\d+)\]$/)?.[1];
    if (inode === undefined) continue;
    const socket = tcp.get(inode);
    if (!socket) counts.other += 1;
    else if (socket.local === httpPort) counts[socket.state === TCP_LISTEN ? 'listening' : 'http'] += 1;
    else if (socket.remote === 5432) counts.postgresql += 1;
    else if (socket.remote === 6379) counts.redis += 1;
    else counts.other += 1;
  }
  return counts;
}

export const formatSockets = (counts: SocketCounts) =>
  `listening ${counts.listening}, http ${counts.http}, postgresql ${counts.postgresql}, redis ${counts.redis}, other ${counts.other}`;

/**
 * What a server's /metrics says of its resources: its app-database pool by state and its pooled connector sessions;
 * its event loop's delay (p99 since the previous scrape), which tells a busy or starved server from one that waits
 * on something else; and its V8 heap in use (live objects and garbage not yet collected).
 */
export interface ServerGauges {
  dbInUse: number;
  dbIdle: number;
  dbWaiting: number;
  providerSessions: number;
  eventLoopP99Ms: number;
  heapUsedMb: number;
}

export async function serverGauges(baseUrl: string): Promise<ServerGauges> {
  // A connection of its own, closed after the answer: a scrape leaves no socket open in the server it counts.
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get(`${baseUrl}/metrics`, { agent: false }, (response) => {
        let body = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (body += chunk));
        response.on('end', () => resolve(body));
        response.on('error', reject);
      })
      .on('error', reject);
  });
  const gauge = (pattern: string) => Number(text.match(new RegExp(`^${pattern} (\\S+)$`, 'm'))?.[1] ?? Number.NaN);
  return {
    dbInUse: gauge('patchbay_db_pool_connections\\{state="in_use"\\}'),
    dbIdle: gauge('patchbay_db_pool_connections\\{state="idle"\\}'),
    dbWaiting: gauge('patchbay_db_pool_connections\\{state="waiting"\\}'),
    providerSessions: gauge('patchbay_provider_sessions'),
    eventLoopP99Ms: gauge('nodejs_eventloop_lag_p99_seconds') * 1000,
    heapUsedMb: gauge('nodejs_heap_size_used_bytes') / 1024 / 1024,
  };
}

export const formatGauges = (gauges: ServerGauges) =>
  `app database pool in use ${gauges.dbInUse}, idle ${gauges.dbIdle}, waiting ${gauges.dbWaiting}; pooled connector sessions ${gauges.providerSessions}`;

/** Environment that loads heap-probe.mjs into a server process, answering on `file`. */
export const heapProbeEnv = (file: string) => ({
  NODE_OPTIONS: `--import ${new URL('heap-probe.mjs', import.meta.url).href}`,
  BENCH_HEAP_PROBE_FILE: file,
});

/** Collects all garbage in a server started with heapProbeEnv(file) and returns what is still in use, in MB. */
export async function liveHeapMb(pid: number, file: string): Promise<{ heapUsed: number; external: number; rss: number }> {
  rmSync(file, { force: true });
  process.kill(pid, 'SIGUSR2');
  for (let waited = 0; waited < 30_000; waited += 50) {
    await sleep(50);
    try {
      const used = JSON.parse(readFileSync(file, 'utf8')) as { heapUsed: number; external: number; rss: number };
      return { heapUsed: used.heapUsed / 1024 / 1024, external: used.external / 1024 / 1024, rss: used.rss / 1024 / 1024 };
    } catch {
      // not written yet
    }
  }
  throw new Error('the server did not answer the heap probe');
}
