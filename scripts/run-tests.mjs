#!/usr/bin/env node
// Runs every test file under test/ with Node's own runner, TypeScript loaded through tsx.
// Node 20's --test takes no globs, so the files are listed here. Narrow a run with
// `npm test -- test/crypto` (a folder or file prefix).
import { spawnSync } from 'node:child_process';
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

const prefixes = process.argv.slice(2).map((p) => path.normalize(p));
const files = collect('test')
  .filter((file) => prefixes.length === 0 || prefixes.some((p) => file.startsWith(p)))
  .sort();
if (files.length === 0) {
  console.error('no test files matched');
  process.exit(1);
}
const result = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', '--test-concurrency=2', '--test-reporter=spec', ...files],
  { stdio: 'inherit' },
);
process.exit(result.status ?? 1);
