/**
 * The scheduler process of bench/health-scale: `patchbay scheduler` as the CLI builds it, plus the measuring. It
 * records each scheduled check's lag (start time minus due time), samples its own RSS every second and its CPU
 * time, and reports over IPC when the parent asks. Started by health-scale.ts, never on its own.
 */
import { performance } from 'node:perf_hooks';
import { loadConfig } from '../src/config.js';
import { loadKeyRing } from '../src/crypto/key-source.js';
import { initModels } from '../src/db/models/index.js';
import { createSequelize } from '../src/db/sequelize.js';
import { createLogger } from '../src/logger.js';
import { createServices } from '../src/services/index.js';

export interface WorkerReport {
  lagsMs: number[];
  rssSamples: number[];
  cpuPercent: number;
  wallS: number;
}

const config = loadConfig();
const sequelize = createSequelize(config.database);
const services = createServices({
  config,
  sequelize,
  models: initModels(sequelize),
  keyRing: loadKeyRing(config).ring,
  log: createLogger(config),
});

const lagsMs: number[] = [];
const rssSamples: number[] = [];
let measuring: { cpu: NodeJS.CpuUsage; started: number; sampler: NodeJS.Timeout } | undefined;

// A scheduled check starts with runTest(claimed check): its lag is how late that is after the due time.
const runTest = services.connectors.runTest.bind(services.connectors);
services.connectors.runTest = async (connector) => {
  if (measuring && 'due' in connector && connector.due instanceof Date) lagsMs.push(Date.now() - connector.due.getTime());
  return runTest(connector);
};
services.scheduler.start();

process.on('message', (message) => {
  if (message === 'measure') {
    measuring = { cpu: process.cpuUsage(), started: performance.now(), sampler: setInterval(() => rssSamples.push(process.memoryUsage.rss()), 1000) };
    return;
  }
  if (message === 'report' && measuring) {
    const wallS = (performance.now() - measuring.started) / 1000;
    const cpu = process.cpuUsage(measuring.cpu);
    clearInterval(measuring.sampler);
    const report: WorkerReport = { lagsMs, rssSamples, cpuPercent: ((cpu.user + cpu.system) / 1e6 / wallS) * 100, wallS };
    process.send?.(report, () => {
      void services.scheduler
        .stop()
        .then(() => services.harness.close())
        .then(() => sequelize.close())
        .then(() => process.exit(0));
    });
  }
});
