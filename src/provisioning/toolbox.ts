import { parseAllDocuments, stringify } from 'yaml';
import { getProvider, secretFieldNames } from '../providers/registry.js';
import { variableName } from './export.js';
import { isReference } from './file.js';

/**
 * `patchbay import toolbox tools.yaml`: MCP Toolbox's `sources` as Patchbay connectors. Both of Toolbox's file
 * formats are read: v1, one document with a `sources:` map of `name: {kind, …}`; and v2, one document per
 * resource with `kind: sources`, `name` and `type`. Toolbox's `${ENV_NAME}` references stay references
 * (`${env:ENV_NAME}`); a literal secret is never copied: it becomes a variable to set. Tools, toolsets and
 * prompts are not imported (a Patchbay agent sends its own operations through an attachment).
 */

export interface ToolboxImport {
  text: string;
  imported: string[];
  skipped: { name: string; kind: string; reason: string }[];
  /** Variables the file refers to that held a literal secret in tools.yaml: set them before applying. */
  variables: { name: string; secret: string }[];
  notes: string[];
}

interface Source {
  name: string;
  kind: string;
  fields: Record<string, unknown>;
}

type Mapped = { provider: string; config: Record<string, unknown>; notes?: string[] } | { skip: string };

const toolboxReference = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;

/** Toolbox's `${NAME}` as Patchbay's `${env:NAME}`; anything else as it is. */
const convert = (value: unknown): unknown => (typeof value === 'string' ? value.replace(toolboxReference, (_m, name: string) => `\${env:${name}}`) : value);

/** Toolbox writes ports as strings ("5432"); a reference stays one (apply reads it as a number). */
const port = (value: unknown): unknown => {
  const converted = convert(value);
  return typeof converted === 'string' && /^\d+$/.test(converted) ? Number(converted) : converted;
};

const text = (value: unknown): string | undefined => (value === undefined || value === null ? undefined : String(value));

/** Optional fields that are absent stay absent. */
const defined = (config: Record<string, unknown>) => Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined && v !== ''));

const cloudConnector = (product: string) =>
  `${product} is reached through Google's Cloud SQL/AlloyDB connector (project, region, instance, IAM-authorised mTLS), which Patchbay does not have; ` +
  `declare a postgresql or mysql connector with the instance's IP address (or a Cloud SQL Auth Proxy) instead`;

const mappers: Record<string, (f: Record<string, unknown>) => Mapped> = {
  postgres: (f) => {
    const notes: string[] = [];
    const params = (f.queryParams ?? {}) as Record<string, unknown>;
    const sslmode = text(params.sslmode);
    const ssl = sslmode === 'require' || sslmode === 'verify-ca' || sslmode === 'verify-full' ? true : undefined;
    const dropped = Object.keys(params).filter((key) => key !== 'sslmode' || ssl === undefined);
    if (dropped.length) notes.push(`queryParams ${dropped.join(', ')} not carried over`);
    return { provider: 'postgresql', config: defined({ host: convert(f.host), port: port(f.port), database: convert(f.database), username: convert(f.user), password: convert(f.password), ssl }), notes };
  },
  mysql: (f) => {
    const notes: string[] = [];
    if (f.queryTimeout !== undefined) notes.push('queryTimeout not carried over: set limits.timeout_ms on the attachments');
    const params = (f.queryParams ?? {}) as Record<string, unknown>;
    const tls = text(params.tls);
    const ssl = tls === 'true' || tls === 'skip-verify' ? true : undefined;
    const dropped = Object.keys(params).filter((key) => key !== 'tls' || ssl === undefined);
    if (dropped.length) notes.push(`queryParams ${dropped.join(', ')} not carried over`);
    return {
      provider: 'mysql',
      config: defined({
        host: convert(f.host),
        port: port(f.port),
        database: convert(f.database),
        username: convert(f.user),
        password: convert(f.password),
        ssl,
        tls_reject_unauthorized: tls === 'skip-verify' ? false : undefined,
      }),
      notes,
    };
  },
  sqlite: (f) => {
    const database = text(convert(f.database));
    if (!database || database === ':memory:') return { skip: 'an in-memory SQLite database has nothing for Patchbay to open' };
    return { provider: 'sqlite', config: { path: database }, notes: ['the file must lie inside PATCHBAY_SQLITE_ROOT'] };
  },
  redis: (f) => {
    if (f.useGCPIAM === true || f.useGCPIAM === 'true') return { skip: "GCP IAM authentication is not something Patchbay's redis provider does" };
    if (f.clusterEnabled === true || f.clusterEnabled === 'true') return { skip: "Patchbay's redis provider speaks to one node, not a Redis Cluster" };
    const addresses = (Array.isArray(f.address) ? f.address : [f.address]).map((a) => text(convert(a))).filter((a): a is string => !!a);
    const first = addresses[0];
    if (!first) return { skip: 'no address' };
    const match = /^(.*):(\d+)$/.exec(first);
    const notes = addresses.length > 1 ? [`only the first address (${first}) is used`] : [];
    return {
      provider: 'redis',
      config: defined({
        host: match ? match[1] : first,
        port: match ? Number(match[2]) : undefined,
        username: convert(f.username),
        password: convert(f.password),
        db: f.database === undefined ? undefined : Number(f.database),
        tls: f.tlsEnabled === true || f.tlsEnabled === 'true' ? true : undefined,
      }),
      notes,
    };
  },
  mongodb: (f) => ({ provider: 'mongodb', config: defined({ connection_string: convert(f.uri) }) }),
  http: (f) => {
    const notes: string[] = [];
    if (f.timeout !== undefined) notes.push('timeout not carried over: set limits.timeout_ms on the attachments');
    if (f.queryParams !== undefined) notes.push('queryParams not carried over');
    const headers = f.headers && typeof f.headers === 'object' ? Object.fromEntries(Object.entries(f.headers).map(([k, v]) => [k, convert(v)])) : undefined;
    return { provider: 'rest', config: defined({ base_url: convert(f.baseUrl), headers }), notes };
  },
  'cloud-sql-postgres': () => ({ skip: cloudConnector('Cloud SQL for PostgreSQL') }),
  'cloud-sql-mysql': () => ({ skip: cloudConnector('Cloud SQL for MySQL') }),
  'alloydb-postgres': () => ({ skip: cloudConnector('AlloyDB') }),
};
// Wire-compatible with a Patchbay provider under another Toolbox name.
mappers.mariadb = mappers.mysql as (f: Record<string, unknown>) => Mapped;
mappers.valkey = mappers.redis as (f: Record<string, unknown>) => Mapped;
mappers['memorystore-redis'] = mappers.redis as (f: Record<string, unknown>) => Mapped;

function sourcesOf(yamlText: string): Source[] {
  const sources: Source[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (!('errors' in doc) || doc.errors.length) {
      const message = 'errors' in doc ? doc.errors[0]?.message.split('\n')[0] : 'not valid YAML';
      throw new Error(`tools.yaml: ${message}`);
    }
    const value = doc.toJS() as Record<string, unknown> | null;
    if (!value || typeof value !== 'object') continue;
    if (value.kind === 'sources' && typeof value.name === 'string') {
      const { kind: _kind, name, type, ...fields } = value;
      sources.push({ name, kind: String(type ?? ''), fields });
    } else if (value.sources && typeof value.sources === 'object') {
      for (const [name, source] of Object.entries(value.sources as Record<string, Record<string, unknown>>)) {
        const { kind, type, ...fields } = source ?? {};
        sources.push({ name, kind: String(kind ?? type ?? ''), fields });
      }
    }
  }
  return sources;
}

export function importToolbox(yamlText: string, organization: string): ToolboxImport {
  const result: ToolboxImport = { text: '', imported: [], skipped: [], variables: [], notes: [] };
  const connectors: Record<string, unknown>[] = [];
  for (const source of sourcesOf(yamlText)) {
    const mapper = Object.hasOwn(mappers, source.kind) ? mappers[source.kind] : undefined;
    const mapped: Mapped = mapper ? mapper(source.fields) : { skip: `Patchbay has no provider for Toolbox's ${source.kind || 'unnamed'} sources` };
    if ('skip' in mapped) {
      result.skipped.push({ name: source.name, kind: source.kind, reason: mapped.skip });
      continue;
    }
    const provider = getProvider(mapped.provider);
    for (const field of provider ? secretFieldNames(provider) : []) {
      const value = mapped.config[field];
      if (value === undefined) continue;
      const secure = (inner: unknown, ...path: string[]): unknown => {
        if (isReference(inner)) return inner;
        // A literal secret in tools.yaml: never copied into the Patchbay file.
        const name = variableName(source.name, ...path);
        result.variables.push({ name, secret: `connector ${source.name}: ${path.join('.')}` });
        return `\${env:${name}}`;
      };
      mapped.config[field] =
        value && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, secure(v, field, k)])) : secure(value, field);
    }
    for (const note of mapped.notes ?? []) result.notes.push(`${source.name}: ${note}`);
    connectors.push({ name: source.name, provider: mapped.provider, description: `Imported from MCP Toolbox source ${source.name} (${source.kind})`, config: mapped.config });
    result.imported.push(source.name);
  }
  const header = [
    `# Patchbay provisioning file, imported from an MCP Toolbox tools.yaml by patchbay import toolbox.`,
    ...result.variables.map((v) => `# set ${v.name}: it held a literal secret in tools.yaml (${v.secret})`),
    ...result.skipped.map((s) => `# skipped source ${s.name} (${s.kind}): ${s.reason}`),
    ...result.notes.map((n) => `# note: ${n}`),
  ];
  result.text = `${header.join('\n')}\n${stringify({ organization, connectors }, { lineWidth: 0 })}`;
  return result;
}
