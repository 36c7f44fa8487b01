import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { describeFields, getProvider } from '../providers/registry.js';

/**
 * Reading a provisioning file: YAML 1.2 (JSON is accepted: it is YAML), with the line of every field kept so that
 * each error names file, line and field; secrets must be `${env:NAME}` or `${file:path}` references, which are
 * resolved here, on the machine that reads the file (the server of an HTTP apply never sees the references).
 */

/** One line naming file, line and field: what `plan`, `apply` and `serve` print for a bad file. */
export class ProvisioningFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly field: string | undefined,
    readonly reason: string,
  ) {
    super(`${file}${line ? `:${line}` : ''}: ${field ? `${field}: ` : ''}${reason}`);
    this.name = 'ProvisioningFileError';
  }
}

export type FieldPath = (string | number)[];

/** `connectors[1].config.port` → ['connectors', 1, 'config', 'port'] (the API's error path notation). */
export function parseFieldPath(text: string): FieldPath {
  const segments: FieldPath = [];
  for (const part of text.split('.')) {
    const match = /^([^[\]]*)((?:\[\d+\])*)$/.exec(part);
    if (!match) {
      segments.push(part);
      continue;
    }
    if (match[1]) segments.push(match[1]);
    for (const index of (match[2] ?? '').matchAll(/\[(\d+)\]/g)) segments.push(Number(index[1]));
  }
  return segments;
}

export const formatFieldPath = (segments: FieldPath): string =>
  segments.map((s, i) => (typeof s === 'number' ? `[${s}]` : i === 0 ? s : `.${s}`)).join('');

const WHOLE_REFERENCE = /^\$\{(env|file):([^}]+)\}$/;
const ANY_REFERENCE = /\$\{(env|file):([^}]+)\}/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const isReference = (value: unknown): value is string => typeof value === 'string' && WHOLE_REFERENCE.test(value);

export interface ReadOptions {
  /** Where `${env:NAME}` looks (the CLI passes the process environment). */
  env: Readonly<Record<string, string | undefined>>;
}

/** A file read, its references resolved: plain JSON for the desired state, and the way back to its lines. */
export interface ReadFile {
  file: string;
  document: Record<string, unknown>;
  /** The line of a field (or of its closest parent present in the file). */
  lineOf(field: string | FieldPath): number | undefined;
  /** An error for `field` as one line naming file, line and field. */
  errorAt(field: string, reason: string): ProvisioningFileError;
}

export function readProvisioningFile(file: string, options: ReadOptions): ReadFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ProvisioningFileError(file, undefined, undefined, `cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return parseProvisioningText(text, file, options);
}

/** `name` names the file in errors; `${file:…}` paths are relative to its folder. */
export function parseProvisioningText(text: string, name: string, options: ReadOptions): ReadFile {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, version: '1.2', uniqueKeys: true });
  const lineAt = (offset: number) => lineCounter.linePos(offset).line;
  if (doc.errors.length > 0) {
    const first = doc.errors[0];
    throw new ProvisioningFileError(name, first?.linePos?.[0].line, undefined, (first?.message ?? 'not valid YAML').split('\n')[0] ?? 'not valid YAML');
  }
  const lineOf = (field: string | FieldPath): number | undefined => {
    const segments = typeof field === 'string' ? parseFieldPath(field) : field;
    let node: unknown = doc.contents;
    let line = nodeLine(node, lineAt);
    for (const segment of segments) {
      if (isMap(node)) node = node.get(segment, true);
      else if (isSeq(node) && typeof segment === 'number') node = node.items[segment];
      else break;
      if (node === undefined) break;
      line = nodeLine(node, lineAt) ?? line;
    }
    return line;
  };
  const errorAt = (field: string, reason: string) => new ProvisioningFileError(name, lineOf(field), field, reason);

  const raw = doc.toJS({ maxAliasCount: 100 }) as unknown;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new ProvisioningFileError(name, 1, undefined, 'the file must be a mapping with organization, connectors, agents, attachments and webhooks');
  }
  const document = raw as Record<string, unknown>;
  refuseLiteralSecrets(document, errorAt);
  const resolver = new ReferenceResolver(options.env, path.dirname(path.resolve(name)));
  const resolved = resolveTree(document, [], resolver, errorAt) as Record<string, unknown>;
  coerceScalars(document, resolved);
  return { file: name, document: resolved, lineOf, errorAt };
}

function nodeLine(node: unknown, lineAt: (offset: number) => number): number | undefined {
  const range = (node as Node | undefined)?.range;
  return range ? lineAt(range[0]) : undefined;
}

/** The secret fields of a file: every provider field marked secret, and a webhook's signing secret. */
export function secretFieldPaths(document: Record<string, unknown>): string[] {
  const paths: string[] = [];
  list(document.connectors).forEach((connector, index) => {
    const provider = typeof connector.provider === 'string' ? getProvider(connector.provider) : undefined;
    const config = connector.config;
    if (!provider || !config || typeof config !== 'object') return;
    for (const field of describeFields(provider)) {
      if (field.secret && (config as Record<string, unknown>)[field.name] !== undefined) paths.push(`connectors[${index}].config.${field.name}`);
    }
  });
  list(document.webhooks).forEach((webhook, index) => {
    if (webhook.secret !== undefined) paths.push(`webhooks[${index}].secret`);
  });
  return paths;
}

const list = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value) ? value.filter((item): item is Record<string, unknown> => !!item && typeof item === 'object' && !Array.isArray(item)) : [];

/** A secret's every value must be a whole reference: a literal would put the secret in Git. */
function refuseLiteralSecrets(document: Record<string, unknown>, errorAt: ReadFile['errorAt']): void {
  for (const field of secretFieldPaths(document)) {
    const check = (value: unknown, at: string): void => {
      if (value === null) return;
      if (value && typeof value === 'object') {
        for (const [key, inner] of Object.entries(value)) check(inner, `${at}.${key}`);
        return;
      }
      if (!isReference(value)) throw errorAt(at, 'a secret must be a reference, ${env:NAME} or ${file:path}, never a literal value');
    };
    check(getPath(document, parseFieldPath(field)), field);
  }
}

const getPath = (root: unknown, segments: FieldPath): unknown =>
  segments.reduce<unknown>((node, segment) => (node && typeof node === 'object' ? (node as Record<string | number, unknown>)[segment] : undefined), root);

class ReferenceResolver {
  constructor(
    private readonly env: Readonly<Record<string, string | undefined>>,
    private readonly baseDir: string,
  ) {}

  resolve(kind: string, target: string): string {
    if (kind === 'env') {
      if (!ENV_NAME.test(target)) throw new Error(`\${env:${target}}: not a valid environment variable name`);
      const value = this.env[target];
      if (value === undefined) throw new Error(`environment variable ${target} is not set`);
      return value;
    }
    const file = path.resolve(this.baseDir, target);
    try {
      // One trailing newline is the editor's, not the secret's.
      return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      throw new Error(`cannot read \${file:${target}} (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
}

function resolveTree(value: unknown, at: FieldPath, resolver: ReferenceResolver, errorAt: ReadFile['errorAt']): unknown {
  if (typeof value === 'string') {
    if (!value.includes('${')) return value;
    try {
      return value.replace(ANY_REFERENCE, (_whole, kind: string, target: string) => resolver.resolve(kind, target.trim()));
    } catch (error) {
      throw errorAt(formatFieldPath(at), (error as Error).message);
    }
  }
  if (Array.isArray(value)) return value.map((item, index) => resolveTree(item, [...at, index], resolver, errorAt));
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([key, inner]) => [key, resolveTree(inner, [...at, key], resolver, errorAt)]));
  }
  return value;
}

/**
 * A reference always yields text; where the field is a number or a boolean (a port, `enabled`), the text is read
 * as one, so `port: ${env:PG_PORT}` works. Only whole references are read so; secrets stay text.
 */
function coerceScalars(authored: Record<string, unknown>, resolved: Record<string, unknown>): void {
  const coerce = (parent: Record<string, unknown> | undefined, key: string, type: string, original: unknown) => {
    if (!parent || !isReference(original) || typeof parent[key] !== 'string') return;
    const text = (parent[key] as string).trim();
    if ((type === 'integer' || type === 'number') && /^-?\d+(\.\d+)?$/.test(text)) parent[key] = Number(text);
    if (type === 'boolean' && (text === 'true' || text === 'false')) parent[key] = text === 'true';
  };
  const resolvedConnectors = list(resolved.connectors);
  list(authored.connectors).forEach((connector, index) => {
    const target = resolvedConnectors[index];
    if (!target) return;
    coerce(target, 'enabled', 'boolean', connector.enabled);
    coerce(target, 'health_check_interval_s', 'integer', connector.health_check_interval_s);
    const provider = typeof connector.provider === 'string' ? getProvider(connector.provider) : undefined;
    const config = connector.config as Record<string, unknown> | undefined;
    if (!provider || !config || typeof config !== 'object') return;
    for (const field of describeFields(provider)) {
      if (!field.secret) coerce(target.config as Record<string, unknown>, field.name, field.type, config[field.name]);
    }
  });
  const resolvedAttachments = list(resolved.attachments);
  list(authored.attachments).forEach((attachment, index) => {
    const limits = attachment.limits as Record<string, unknown> | undefined;
    const target = resolvedAttachments[index]?.limits as Record<string, unknown> | undefined;
    if (limits && typeof limits === 'object') for (const key of Object.keys(limits)) coerce(target, key, 'integer', limits[key]);
  });
  const resolvedWebhooks = list(resolved.webhooks);
  list(authored.webhooks).forEach((webhook, index) => coerce(resolvedWebhooks[index], 'enabled', 'boolean', webhook.enabled));
}

/**
 * A refusal of the desired state (a 422 from the API's schemas, a service's conflict) whose field path points
 * into the file, as one line naming file, line and field; anything else unchanged.
 */
export function locateError(error: unknown, read: ReadFile | undefined): unknown {
  const first = (error as { errors?: { path: string; message: string }[] } | undefined)?.errors?.[0];
  const code = (error as { code?: unknown } | undefined)?.code;
  if (!read || !first || error instanceof ProvisioningFileError) return error;
  return read.errorAt(first.path, code === 'validation_failed' || typeof code !== 'string' ? first.message : `${code}: ${first.message}`);
}
