/**
 * Loaded into the server process of bench/soak (NODE_OPTIONS=--import, plain JavaScript: it runs before tsx is
 * registered). On SIGUSR2 it collects all garbage through the inspector (no --expose-gc needed) and writes the
 * memory still in use, in bytes, to the file named by BENCH_HEAP_PROBE_FILE: the live heap, which unlike RSS does
 * not follow the heap size V8 chose for the allocation rate.
 */
import { writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';

const session = new Session();
session.connect();
process.on('SIGUSR2', () => {
  session.post('HeapProfiler.collectGarbage', () => {
    const { heapUsed, external, rss } = process.memoryUsage();
    writeFileSync(process.env.BENCH_HEAP_PROBE_FILE, JSON.stringify({ heapUsed, external, rss }));
  });
});
