/**
 * `npm run bench -- guards`: adversarial request text through every check that reads it before anything is sent
 * (read mode's SQL gates of each dialect, the SQL providers' first gates, redis's command check, graphql's
 * document check, rest's path check, mongodb's pipeline check, the MQTT and NATS boundary matching). Each input
 * runs a few times; the worst time per input and per KB is printed. Goal: far below 1 ms per KB.
 */
import { performance } from 'node:perf_hooks';
import { assertReadOnlySql, MAX_READ_STATEMENT_BYTES } from '../src/providers/_shared/sql-guard/index.js';
import { filterCovers, MQTT_TOPICS, NATS_SUBJECTS } from '../src/providers/_shared/messaging-scope.js';
import { analyzeSql, type SqlDialect } from '../src/providers/_shared/sql-params.js';
import graphql from '../src/providers/graphql.js';
import mongodb from '../src/providers/mongodb/index.js';
import mysql from '../src/providers/mysql/index.js';
import postgresql from '../src/providers/postgresql/index.js';
import redis from '../src/providers/redis.js';
import rest from '../src/providers/rest.js';
import sqlite from '../src/providers/sqlite/index.js';
import { writesFor, type Provider } from '../src/providers/types.js';

const MiB = 1024 * 1024;
const RUNS = 3;
const GOAL_MS_PER_KB = 1;

/** Repeats `unit` until the text is about `bytes` long. */
const fill = (unit: string, bytes: number) => unit.repeat(Math.max(1, Math.floor(bytes / unit.length)));

/** Adversarial SQL bodies, each at the read-mode cap (the largest text a read check reads) and at 1 MiB. */
function sqlInputs(size: number): Record<string, string> {
  const half = Math.floor(size / 2) - 8;
  return {
    'unterminated /*': `SELECT 1 ${fill('/*', size)}`,
    'nested /* */': `SELECT 1 ${fill('/*', half)}${fill('*/', half)}`,
    'unterminated quote': `SELECT '${fill("x''", size)}`,
    'unterminated "': `SELECT "${fill('x\\"', size)}`,
    'unterminated `': `SELECT \`${fill('x', size)}`,
    'backslashes': `SELECT '${fill('\\', size)}`,
    'open parens': `SELECT ${fill('(', size)}`,
    'balanced parens': `SELECT ${fill('(', half)}1${fill(')', half)}`,
    'nested subqueries': `SELECT ${fill('(SELECT ', half)}1${fill(')', half / 8)}`,
    'open brackets': `SELECT ${fill('[', size)}`,
    'dollar signs': `SELECT ${fill('$a', size)}`,
    'long identifier': `SELECT ${fill('a', size)}`,
    'many columns': `SELECT ${fill('a,', size)}a`,
    'operator chain': `SELECT 1${fill('+1', size)}`,
    'calls': `SELECT ${fill('f(', half)}1${fill(')', half)}`,
    'dash and hash': `SELECT 1 ${fill('-#', size)}`,
    'whitespace': `SELECT${fill(' ', size)}1`,
    'semicolons': `SELECT 1${fill(';', size)}`,
    'placeholders': `SELECT ${fill(':a+', size)}1`,
  };
}

interface Check {
  name: string;
  run: (text: string) => Promise<unknown> | unknown;
}

const quietly = async (fn: () => Promise<unknown> | unknown) => {
  try {
    await fn();
  } catch {
    // A refusal is the expected answer to most of these inputs; only the time counts.
  }
};

const writes = (provider: Provider, operation: string, input: unknown) => {
  const op = provider.operations[operation];
  if (!op) throw new Error(`${provider.id} has no ${operation}`);
  const parsed = op.input.safeParse(input);
  return parsed.success ? writesFor(op, parsed.data) : undefined;
};

function sqlChecks(): Check[] {
  const dialects: SqlDialect[] = ['postgresql', 'mysql', 'sqlite'];
  const providers: Record<SqlDialect, Provider> = { postgresql, mysql, sqlite } as Record<SqlDialect, Provider>;
  return dialects.flatMap((dialect) => [
    { name: `${dialect} read gate`, run: (text: string) => assertReadOnlySql(dialect, text) },
    { name: `${dialect} first gate`, run: (text: string) => writes(providers[dialect], 'query', { query: text }) },
    { name: `${dialect} tokenizer`, run: (text: string) => analyzeSql(text, dialect) },
  ]);
}

function otherChecks(): { name: string; inputs: Record<string, string>; run: (text: string) => unknown }[] {
  const big = (unit: string) => fill(unit, MiB);
  return [
    {
      name: 'redis command',
      inputs: { 'long name': big('G'), 'pipes and dots': big('|.-') },
      run: (text) => writes(redis, 'command', { command: [text, text] }),
    },
    {
      name: 'graphql document',
      inputs: {
        'nested selections': `{ ${big('a { ')}`,
        'unterminated string': `{ a(x: "${big('x')}`,
        'many fields': `{ ${big('a ')} }`,
        'fragments': big('fragment F on Mutation { a } '),
      },
      run: (text) => writes(graphql, 'query', { query: text }),
    },
    {
      name: 'rest path',
      inputs: { 'dot segments': `/${big('%2e%2e/')}`, 'slashes': big('/'), 'question marks': `/a${big('?')}` },
      run: (text) => writes(rest, 'request', { method: 'GET', path: text }),
    },
    {
      // The pipeline as JSON text (its size is what counts); parsed into objects by the run, as the API does.
      name: 'mongodb pipeline',
      inputs: { 'many stages': JSON.stringify(Array.from({ length: Math.floor(MiB / 13) }, () => ({ $match: {} }))) },
      run: (text) => writes(mongodb, 'aggregate', { collection: 'c', pipeline: JSON.parse(text) as unknown }),
    },
    {
      name: 'mqtt topic boundary',
      inputs: { 'many levels': big('a/'), 'wildcards': big('+/') },
      run: (text) => filterCovers(MQTT_TOPICS, `${big('a/')}#`, text),
    },
    {
      name: 'nats subject boundary',
      inputs: { 'many tokens': big('a.'), 'wildcards': big('*.') },
      run: (text) => filterCovers(NATS_SUBJECTS, `${big('a.')}>`, text),
    },
  ];
}

async function worst(run: () => Promise<unknown> | unknown): Promise<number> {
  let slowest = 0;
  for (let i = 0; i < RUNS; i += 1) {
    const started = performance.now();
    await quietly(run);
    slowest = Math.max(slowest, performance.now() - started);
  }
  return slowest;
}

export async function guardsBench(): Promise<void> {
  await assertReadOnlySql('postgresql', 'SELECT 1'); // loads libpg-query
  let overall = 0;
  const report = (check: string, input: string, bytes: number, ms: number) => {
    const perKb = ms / (bytes / 1024);
    overall = Math.max(overall, perKb);
    console.log(`${check.padEnd(24)} ${input.padEnd(20)} ${String(Math.round(bytes / 1024)).padStart(5)} KB  worst ${ms.toFixed(2).padStart(8)} ms  ${perKb.toFixed(4)} ms/KB`);
  };
  for (const size of [MAX_READ_STATEMENT_BYTES, MiB]) {
    for (const [input, text] of Object.entries(sqlInputs(size))) {
      for (const check of sqlChecks()) report(check.name, input, Buffer.byteLength(text), await worst(() => check.run(text)));
    }
  }
  for (const check of otherChecks()) {
    for (const [input, text] of Object.entries(check.inputs)) {
      report(check.name, input, Buffer.byteLength(text), await worst(() => check.run(text)));
    }
  }
  console.log(`worst of all: ${overall.toFixed(4)} ms/KB (goal: far below ${GOAL_MS_PER_KB} ms/KB)`);
}
