/**
 * What a benchmark reads about a server process from the outside (Linux /proc, and the server's own /metrics):
 * its RSS, its CPU time, its open sockets by what they reach, and its pool gauges.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

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

/** The pool gauges of a server's /metrics: its app-database pool by state and its pooled connector sessions. */
export interface PoolGauges {
  dbInUse: number;
  dbIdle: number;
  dbWaiting: number;
  providerSessions: number;
}

export async function poolGauges(baseUrl: string): Promise<PoolGauges> {
  const text = await (await fetch(`${baseUrl}/metrics`)).text();
  const gauge = (pattern: string) => Number(text.match(new RegExp(`^${pattern} (\\S+)$`, 'm'))?.[1] ?? Number.NaN);
  return {
    dbInUse: gauge('patchbay_db_pool_connections\\{state="in_use"\\}'),
    dbIdle: gauge('patchbay_db_pool_connections\\{state="idle"\\}'),
    dbWaiting: gauge('patchbay_db_pool_connections\\{state="waiting"\\}'),
    providerSessions: gauge('patchbay_provider_sessions'),
  };
}

export const formatGauges = (gauges: PoolGauges) =>
  `app database pool in use ${gauges.dbInUse}, idle ${gauges.dbIdle}, waiting ${gauges.dbWaiting}; pooled connector sessions ${gauges.providerSessions}`;
