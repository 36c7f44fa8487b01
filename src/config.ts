import path from 'node:path';
import { z } from 'zod';

/**
 * The only reader of process.env. Everything else receives a frozen Config,
 * which tests build freely with loadConfig({...}).
 */

export type DatabaseSettings =
  | { dialect: 'sqlite'; storage: string; url: string }
  | { dialect: 'postgres'; url: string; /** Connections to the app database (PATCHBAY_DB_POOL_MAX). @default 10 */ poolMax?: number };

export type EgressPolicy = 'public' | 'private' | 'any';

export interface Config {
  database: DatabaseSettings;
  /** Comma-separated Fernet keys as given; undefined means "generate a dev key" on SQLite. */
  encryptionKeys: string[] | undefined;
  host: string;
  port: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  egress: EgressPolicy;
  sqliteRoot: string;
  policysynthUserId: number;
  bodyLimitBytes: number;
  rateLimitPerKey: number;
  /** Failed authentications a minute per client address before further attempts answer 429 unlooked-up. */
  rateLimitFailedAuth: number;
  poolMax: number;
  poolIdleMs: number;
  /** How long a cached credential or attachment may serve unread (the bound should every change notice be lost). */
  cacheTtlMs: number;
  allowedOrigins: string[];
  metricsToken: string | undefined;
  health: { concurrency: number; failureThreshold: number; minIntervalS: number; retentionDays: number };
  auditRetentionDays: number;
  /** How long SIGTERM waits for requests in flight before it cuts them. */
  shutdownGraceMs: number;
  /** Provisioning files `patchbay serve` applies before it listens (docs/provisioning.md); undefined: none. */
  provisioningDir: string | undefined;
}

export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min).max(max));

const list = z
  .string()
  .transform((value) => value.split(',').map((item) => item.trim()).filter(Boolean));

const env = {
  DATABASE_URL: z.string().trim().min(1, 'must not be empty'),
  PATCHBAY_ENCRYPTION_KEYS: list.pipe(z.array(z.string()).min(1, 'must hold at least one key')),
  HOST: z.string().trim().min(1),
  PORT: int(0, 65535),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  PATCHBAY_EGRESS: z.enum(['public', 'private', 'any']),
  PATCHBAY_SQLITE_ROOT: z.string().trim().min(1),
  PATCHBAY_POLICYSYNTH_USER_ID: int(1, 2_147_483_647),
  PATCHBAY_BODY_LIMIT_BYTES: int(1024),
  PATCHBAY_RATE_LIMIT_PER_KEY: int(1),
  PATCHBAY_RATE_LIMIT_FAILED_AUTH: int(1),
  PATCHBAY_POOL_MAX: int(1, 100),
  PATCHBAY_DB_POOL_MAX: int(1, 1000),
  PATCHBAY_POOL_IDLE_MS: int(0),
  PATCHBAY_CACHE_TTL_MS: int(0, 3_600_000),
  PATCHBAY_ALLOWED_ORIGINS: list,
  PATCHBAY_METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters'),
  PATCHBAY_HEALTH_CONCURRENCY: int(1, 1000),
  PATCHBAY_HEALTH_FAILURE_THRESHOLD: int(1, 100),
  PATCHBAY_HEALTH_MIN_INTERVAL_S: int(1),
  PATCHBAY_HEALTH_RETENTION_DAYS: int(1),
  PATCHBAY_AUDIT_RETENTION_DAYS: int(1),
  PATCHBAY_SHUTDOWN_GRACE_MS: int(0, 3_600_000),
  PATCHBAY_PROVISIONING_DIR: z.string().trim().min(1),
  PSQL_DB_NAME: z.string().min(1),
  PSQL_DB_USER: z.string().min(1),
  PSQL_DB_PASS: z.string(),
  DB_HOST: z.string().min(1),
  DB_PORT: int(1, 65535),
} as const;

type EnvName = keyof typeof env;
export type Environment = Partial<Record<EnvName, string>> & Record<string, string | undefined>;

function read<K extends EnvName>(source: Environment, name: K): z.output<(typeof env)[K]> | undefined {
  const raw = source[name];
  if (raw === undefined || raw === '') return undefined;
  const parsed = env[name].safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    // The value itself is never echoed: it may be a key or a password.
    throw new ConfigError(name, issue?.message ?? 'invalid value');
  }
  return parsed.data as z.output<(typeof env)[K]>;
}

export function parseDatabaseUrl(url: string, variable = 'DATABASE_URL'): DatabaseSettings {
  if (url.startsWith('sqlite:')) {
    const file = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!file) throw new ConfigError(variable, 'sqlite: needs a file path, e.g. sqlite:./data/patchbay.sqlite');
    if (file === ':memory:') return { dialect: 'sqlite', storage: ':memory:', url };
    return { dialect: 'sqlite', storage: path.resolve(file), url };
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError(variable, 'is not a valid postgres:// URL');
    }
    if (!parsed.hostname) throw new ConfigError(variable, 'postgres:// URL needs a host');
    if (parsed.pathname.length <= 1) throw new ConfigError(variable, 'postgres:// URL needs a database name');
    return { dialect: 'postgres', url };
  }
  throw new ConfigError(variable, 'must start with sqlite: or postgres://');
}

function databaseFrom(source: Environment): DatabaseSettings {
  const settings = databaseLocation(source);
  const poolMax = read(source, 'PATCHBAY_DB_POOL_MAX');
  return settings.dialect === 'postgres' && poolMax !== undefined ? { ...settings, poolMax } : settings;
}

function databaseLocation(source: Environment): DatabaseSettings {
  const url = read(source, 'DATABASE_URL');
  if (url) return parseDatabaseUrl(url);
  const name = read(source, 'PSQL_DB_NAME');
  if (name) {
    // PolicySynth's own variables, so a shared deployment needs no second setting.
    const user = read(source, 'PSQL_DB_USER') ?? 'postgres';
    const pass = read(source, 'PSQL_DB_PASS');
    const host = read(source, 'DB_HOST') ?? '127.0.0.1';
    const port = read(source, 'DB_PORT') ?? 5432;
    const auth = encodeURIComponent(user) + (pass ? `:${encodeURIComponent(pass)}` : '');
    return parseDatabaseUrl(`postgres://${auth}@${host}:${port}/${encodeURIComponent(name)}`, 'PSQL_DB_NAME');
  }
  return parseDatabaseUrl('sqlite:./data/patchbay.sqlite');
}

/** The scheduled health checks' settings (DESIGN.md section 9). */
function healthFrom(source: Environment): Config['health'] {
  return {
    concurrency: read(source, 'PATCHBAY_HEALTH_CONCURRENCY') ?? 8,
    failureThreshold: read(source, 'PATCHBAY_HEALTH_FAILURE_THRESHOLD') ?? 2,
    minIntervalS: read(source, 'PATCHBAY_HEALTH_MIN_INTERVAL_S') ?? 30,
    retentionDays: read(source, 'PATCHBAY_HEALTH_RETENTION_DAYS') ?? 7,
  };
}

export function loadConfig(source: Environment = process.env): Readonly<Config> {
  const config: Config = {
    database: databaseFrom(source),
    encryptionKeys: read(source, 'PATCHBAY_ENCRYPTION_KEYS'),
    host: read(source, 'HOST') ?? '127.0.0.1',
    port: read(source, 'PORT') ?? 8080,
    logLevel: read(source, 'LOG_LEVEL') ?? 'info',
    egress: read(source, 'PATCHBAY_EGRESS') ?? 'private',
    sqliteRoot: path.resolve(read(source, 'PATCHBAY_SQLITE_ROOT') ?? './data/sqlite'),
    policysynthUserId: read(source, 'PATCHBAY_POLICYSYNTH_USER_ID') ?? 1,
    bodyLimitBytes: read(source, 'PATCHBAY_BODY_LIMIT_BYTES') ?? 1_048_576,
    rateLimitPerKey: read(source, 'PATCHBAY_RATE_LIMIT_PER_KEY') ?? 600,
    rateLimitFailedAuth: read(source, 'PATCHBAY_RATE_LIMIT_FAILED_AUTH') ?? 30,
    poolMax: read(source, 'PATCHBAY_POOL_MAX') ?? 4,
    poolIdleMs: read(source, 'PATCHBAY_POOL_IDLE_MS') ?? 30_000,
    cacheTtlMs: read(source, 'PATCHBAY_CACHE_TTL_MS') ?? 5_000,
    allowedOrigins: read(source, 'PATCHBAY_ALLOWED_ORIGINS') ?? [],
    metricsToken: read(source, 'PATCHBAY_METRICS_TOKEN'),
    health: healthFrom(source),
    auditRetentionDays: read(source, 'PATCHBAY_AUDIT_RETENTION_DAYS') ?? 90,
    // Within the 30 s a container platform allows between SIGTERM and SIGKILL, with time left to close.
    shutdownGraceMs: read(source, 'PATCHBAY_SHUTDOWN_GRACE_MS') ?? 25_000,
    provisioningDir: ((dir) => (dir ? path.resolve(dir) : undefined))(read(source, 'PATCHBAY_PROVISIONING_DIR')),
  };
  return Object.freeze(config);
}
