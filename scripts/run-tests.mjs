#!/usr/bin/env node
// Runs every test file under test/ with Node's own runner, TypeScript loaded through tsx.
// Node 20's --test takes no globs, so the files are listed here. Narrow a run with
// `npm test -- test/crypto` (a folder or file prefix).
//
// Two limits make a hung test fail instead of hanging CI: Node's --test-timeout, PATCHBAY_TEST_TIMEOUT_S seconds,
// which Node 20 applies to every test, every describe and every whole file alike (so it is sized for the longest
// file on a loaded 2-core machine), and PATCHBAY_TEST_RUN_LIMIT_S for the whole run, after which the runner and
// everything it started are killed and the run fails with a message saying so.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';

function collect(dir) {
  const found = [];
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'fixtures') continue;
    const full = path.join(dir, entry);
    if (statSync(full).isDirectory()) found.push(...collect(full));
    else if (entry.endsWith('.test.ts')) found.push(full);
  }
  return found;
}

function seconds(name, fallback) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    console.error(`${name} must be a whole number of seconds`);
    process.exit(2);
  }
  return Number(raw);
}

const testTimeoutS = seconds('PATCHBAY_TEST_TIMEOUT_S', 600);
const runLimitS = seconds('PATCHBAY_TEST_RUN_LIMIT_S', 1500);

const prefixes = process.argv.slice(2).map((p) => path.normalize(p));
const files = collect('test')
  .filter((file) => prefixes.length === 0 || prefixes.some((p) => file.startsWith(p)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}

// Its own process group, so that the limit kills the test files' processes and the servers they started too.
const runner = spawn(
  process.execPath,
  [
    '--import',
    'tsx',
    '--test',
    '--test-concurrency=2',
    `--test-timeout=${testTimeoutS * 1000}`,
    '--test-reporter=spec',
    ...files,
  ],
  { stdio: 'inherit', detached: true },
);
const killGroup = (signal) => {
  try {
    process.kill(-runner.pid, signal);
  } catch {
    // already gone
  }
};
let limited = false;
const limit = setTimeout(() => {
  limited = true;
  console.error(`\nerror: the test run exceeded its limit of ${runLimitS} s (PATCHBAY_TEST_RUN_LIMIT_S) and was stopped`);
  killGroup('SIGTERM');
  setTimeout(() => killGroup('SIGKILL'), 10_000).unref();
}, runLimitS * 1000);
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => killGroup(signal));
runner.on('exit', (code, signal) => {
  clearTimeout(limit);
  killGroup('SIGKILL'); // anything the files left running
  process.exit(limited ? 1 : (code ?? (signal ? 1 : 0)));
});
