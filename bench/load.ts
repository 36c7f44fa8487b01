/**
 * The load of the HTTP benchmarks: a worker thread of its own, so that the client's work does not share the
 * servers' event loop. It keeps CONCURRENCY requests in flight for SECONDS, either plain JSON POSTs or MCP
 * `tools/call`s through the official MCP client (one client and HTTP connection per concurrent caller). Its two
 * senders, httpRequest and connectMcp, also serve the benchmarks that drive a server process from their main thread.
 */
import http from 'node:http';
import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { cpuMs } from './server-process.js';
import { summarize } from './stats.js';

export const CONCURRENCY = 16;
export const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LOAD_ROLE = 'bench-load';
const THREAD_STAT = '/proc/thread-self/stat';

export type LoadRequest =
  | { kind: 'http'; url: string; headers: Record<string, string>; body: string }
  | { kind: 'mcp'; url: string; token: string; tool: string; args: Record<string, unknown> };

export interface LoadReport {
  requests: number;
  perSecond: number;
  /** Per request, in milliseconds. */
  median: number;
  p95: number;
  failures: number;
  /** The first failure's status and body. */
  failure?: string;
  /**
   * CPU milliseconds per measured request of this process less the load thread's own: the servers' cost per call
   * (their threads, the thread pool and GC), apart from the client's. The MCP client costs several times a plain
   * HTTP POST and shares the cores, so throughput alone mixes the two. NaN where a thread's CPU time cannot be read
   * (Linux only).
   */
  serverCpuMs: number;
}

const processCpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

/** The worker's word that the measured part begins (after the warm-up). */
const MEASURING = 'measuring';

export function startLoadWorker(): { run(request: LoadRequest): Promise<LoadReport>; close(): Promise<void> } {
  // The worker loads this module through tsx: a worker does not inherit the main thread's --import hooks (Node 20).
  const source = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then(({ tsImport }) => tsImport(${JSON.stringify(import.meta.url)}, ${JSON.stringify(import.meta.url)}))`;
  const worker = new Worker(source, { eval: true, workerData: { role: LOAD_ROLE } });
  return {
    run: (request) =>
      new Promise((resolve, reject) => {
        let cpuSince = processCpuMs();
        const fail = (error: Error) => {
          worker.off('message', onMessage);
          reject(error);
        };
        const onMessage = (message: WorkerReport | typeof MEASURING) => {
          if (message === MEASURING) {
            cpuSince = processCpuMs();
            return;
          }
          worker.off('message', onMessage);
          worker.off('error', fail);
          const { loadCpuMs, ...report } = message;
          resolve({ ...report, serverCpuMs: (processCpuMs() - cpuSince - loadCpuMs) / report.requests });
        };
        worker.once('error', fail);
        worker.on('message', onMessage);
        worker.postMessage(request);
      }),
    close: async () => void (await worker.terminate()),
  };
}

type Send = () => Promise<{ ok: boolean; detail: string }>;

export interface HttpAnswer {
  /** 0 for a network error, whose message is then the body. */
  status: number;
  body: string;
}

/**
 * One HTTP request on `agent`, its body sent as JSON when there is one. A network error resolves as status 0, so
 * that one reset does not end a measurement.
 */
export function httpRequest(
  agent: http.Agent,
  url: URL,
  options: { method: string; headers: Record<string, string>; body?: string },
): Promise<HttpAnswer> {
  const headers =
    options.body === undefined
      ? options.headers
      : { ...options.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(options.body)) };
  return new Promise((resolve) => {
    const failed = (error: Error) => resolve({ status: 0, body: error.message });
    const outgoing = http.request(
      { agent, host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, method: options.method, headers },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        response.on('error', failed);
      },
    );
    outgoing.on('error', failed);
    outgoing.end(options.body);
  });
}

/**
 * The official MCP client, connected (initialised) to an agent's MCP endpoint with a bearer token. With `agent`, its
 * requests go over node:http on that agent rather than the global fetch's pool, so that destroying the agent
 * closes its connections at once (the global pool keeps them for the server's keep-alive time).
 */
export async function connectMcp(url: string, token: string, agent?: http.Agent): Promise<Client> {
  const client = new Client({ name: 'patchbay-bench', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      ...(agent ? { fetch: fetchOver(agent) } : {}),
    }),
  );
  return client;
}

/** The part of fetch the MCP client uses (method, headers, a string body, a signal), over node:http on `agent`. */
function fetchOver(agent: http.Agent) {
  return (url: string | URL, init: RequestInit = {}): Promise<Response> =>
    new Promise((resolve, reject) => {
      const outgoing = http.request(
        new URL(url),
        { agent, method: init.method ?? 'GET', headers: Object.fromEntries(new Headers(init.headers).entries()), signal: init.signal ?? undefined },
        (response) => {
          const status = response.statusCode ?? 0;
          const headers = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
          }
          const empty = status === 204 || status === 205 || status === 304;
          if (empty) response.resume();
          resolve(new Response(empty ? null : (Readable.toWeb(response) as ReadableStream), { status, headers }));
        },
      );
      outgoing.on('error', reject);
      outgoing.end(typeof init.body === 'string' ? init.body : undefined);
    });
}

/** One sender per concurrent caller, and how to close them all. */
async function senders(request: LoadRequest): Promise<{ send: Send[]; close(): Promise<void> }> {
  if (request.kind === 'http') {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const url = new URL(request.url);
    const send: Send = async () => {
      const answer = await httpRequest(agent, url, { method: 'POST', headers: request.headers, body: request.body });
      return { ok: answer.status === 200, detail: `${answer.status} ${answer.body.slice(0, 200)}` };
    };
    return { send: Array.from({ length: CONCURRENCY }, () => send), close: async () => agent.destroy() };
  }
  const clients = await Promise.all(Array.from({ length: CONCURRENCY }, () => connectMcp(request.url, request.token)));
  return {
    send: clients.map((client) => async () => {
      try {
        const result = await client.callTool({ name: request.tool, arguments: request.args });
        return { ok: !result.isError, detail: JSON.stringify(result).slice(0, 200) };
      } catch (error) {
        return { ok: false, detail: (error as Error).message };
      }
    }),
    close: async () => void (await Promise.all(clients.map((client) => client.close()))),
  };
}

/**
 * Warms up with 20 requests per caller (at most one second), then keeps CONCURRENCY requests in flight for SECONDS
 * (at most 1,000,000 requests).
 */
/** What the load worker measures itself: the report less the server's CPU, plus the load thread's own CPU time. */
type WorkerReport = Omit<LoadReport, 'serverCpuMs'> & { loadCpuMs: number };

async function applyLoad(request: LoadRequest): Promise<WorkerReport> {
  const { send, close } = await senders(request);
  const latencies: number[] = [];
  let failures = 0;
  let failure: string | undefined;
  let issued = 0;
  const drive = async (until: number, limit: number, record: boolean) => {
    const caller = async (call: Send) => {
      while (performance.now() < until && issued < limit) {
        issued += 1;
        const started = performance.now();
        const { ok, detail } = await call();
        if (!record) continue;
        latencies.push(performance.now() - started);
        if (!ok) {
          failures += 1;
          failure ??= detail;
        }
      }
    };
    await Promise.all(send.map(caller));
  };
  try {
    await drive(performance.now() + 1000, 20 * CONCURRENCY, false);
    issued = 0;
    parentPort?.postMessage(MEASURING);
    const cpuStarted = cpuMs(THREAD_STAT);
    const started = performance.now();
    await drive(started + SECONDS * 1000, 1_000_000, true);
    const elapsedS = (performance.now() - started) / 1000;
    const loadCpuMs = cpuMs(THREAD_STAT) - cpuStarted;
    const { median, p95 } = summarize(latencies);
    return { requests: latencies.length, perSecond: latencies.length / elapsedS, median, p95, failures, failure, loadCpuMs };
  } finally {
    await close();
  }
}

// In the load worker this module only answers load requests, one at a time.
if (!isMainThread && (workerData as { role?: string } | null)?.role === LOAD_ROLE) {
  parentPort?.on('message', (request: LoadRequest) => {
    void applyLoad(request).then((report) => parentPort?.postMessage(report));
  });
}
