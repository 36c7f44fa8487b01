import { z } from 'zod';
import type { FieldError } from '../errors.js';
import type { Provider } from './types.js';
// Static imports are cheap: each provider loads its client library with `await import()` inside connect.
import azure_blob from './azure_blob.js';
import gcs from './gcs/index.js';
import graphql from './graphql.js';
import kafka from './kafka/index.js';
import minio from './minio.js';
import mongodb from './mongodb/index.js';
import mqtt from './mqtt/index.js';
import mysql from './mysql/index.js';
import nats from './nats/index.js';
import postgresql from './postgresql/index.js';
import rabbitmq from './rabbitmq/index.js';
import redis from './redis.js';
import redis_pubsub from './redis_pubsub.js';
import rest from './rest.js';
import s3 from './s3.js';
import soap from './soap/index.js';
import sqlite from './sqlite/index.js';
import sqs from './sqs/index.js';

/** The provider catalogue in code: the source of truth for connector types (DESIGN.md section 4). */
const catalogue: readonly Provider[] = [
  postgresql,
  mysql,
  mongodb,
  redis,
  sqlite,
  rest,
  graphql,
  soap,
  s3,
  gcs,
  azure_blob,
  minio,
  kafka,
  rabbitmq,
  sqs,
  redis_pubsub,
  mqtt,
  nats,
] as Provider[];

const byId: Readonly<Record<string, Provider>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, Provider>, Object.fromEntries(catalogue.map((p) => [p.id, p]))),
);

export const providerIds: readonly string[] = Object.freeze(catalogue.map((provider) => provider.id));

/** Undefined for an unknown id (never an inherited property such as `constructor`). */
export function getProvider(id: string): Provider | undefined {
  return Object.hasOwn(byId, id) ? byId[id] : undefined;
}

export function listProviders(): readonly Provider[] {
  return catalogue;
}

export interface FieldDescription {
  name: string;
  type: string;
  required: boolean;
  secret: boolean;
  overridable: boolean;
  default: unknown;
  description: string | undefined;
}

const described = new WeakMap<Provider, readonly FieldDescription[]>();

/** The config fields as `GET /connectors/types` and the docs tables show them, read from the zod schema once. */
export function describeFields(provider: Provider): readonly FieldDescription[] {
  let fields = described.get(provider);
  if (!fields) {
    fields = Object.freeze(readFields(provider));
    described.set(provider, fields);
  }
  return fields;
}

function readFields(provider: Provider): FieldDescription[] {
  return Object.entries(provider.config.shape).map(([name, field]) => {
    const { meta, base, defaultValue } = unwrap(field as z.ZodType);
    return {
      name,
      type: typeName(base),
      required: !(field as z.ZodType).safeParse(undefined).success,
      secret: meta.secret === true,
      overridable: meta.overridable === true,
      default: defaultValue,
      description: typeof meta.description === 'string' ? meta.description : undefined,
    };
  });
}

export function secretFieldNames(provider: Provider): string[] {
  return describeFields(provider)
    .filter((field) => field.secret)
    .map((field) => field.name);
}

export function overridableFieldNames(provider: Provider): string[] {
  return describeFields(provider)
    .filter((field) => field.overridable)
    .map((field) => field.name);
}

/** The fields marked `destination()`: where the connector connects. */
export function destinationFieldNames(provider: Provider): string[] {
  return Object.entries(provider.config.shape)
    .filter(([, field]) => unwrap(field as z.ZodType).meta.destination === true)
    .map(([name]) => name);
}

export type ParsedConfig =
  | { success: true; data: Record<string, unknown> }
  | { success: false; errors: FieldError[] };

/**
 * Validates a connector config: the provider's schema with unknown fields refused, then its cross-field
 * rules. Error paths are prefixed with `config.` as the API reports them (`config.port`).
 */
export function parseConfig(provider: Provider, input: unknown): ParsedConfig {
  const parsed = strictSchema(provider).safeParse(input);
  if (!parsed.success) return { success: false, errors: fieldErrors(parsed.error, 'config') };
  const data = parsed.data as Record<string, unknown>;
  const issues = provider.refine?.(data) ?? [];
  if (issues.length > 0) {
    return { success: false, errors: issues.map(({ path, message }) => ({ path: joinPath('config', path), message })) };
  }
  return { success: true, data };
}

/** zod issues as `[{path, message}]`; an unknown key gets its own path, as a wrong value does. */
export function fieldErrors(error: z.ZodError, prefix: string): FieldError[] {
  return error.issues.flatMap((issue) => {
    const path = joinPath(prefix, issue.path.map(String).join('.'));
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: joinPath(path, key), message: 'unknown field' }));
    }
    return [{ path, message: issue.message }];
  });
}

const strictSchemas = new WeakMap<Provider, z.ZodType>();

function strictSchema(provider: Provider): z.ZodType {
  let schema = strictSchemas.get(provider);
  if (!schema) {
    schema = provider.config.strict();
    strictSchemas.set(provider, schema);
  }
  return schema;
}

const joinPath = (prefix: string, path: string): string => (prefix && path ? `${prefix}.${path}` : prefix || path);

// Wrappers that may carry a field's metadata and default; the meta of an outer wrapper wins.
export function unwrap(field: z.ZodType): { meta: Record<string, unknown>; base: z.ZodType; defaultValue: unknown } {
  const layers: Record<string, unknown>[] = [];
  let defaultValue: unknown;
  let current: z.ZodType = field;
  for (;;) {
    layers.push(current.meta() ?? {});
    if (current instanceof z.ZodDefault) {
      defaultValue ??= current.def.defaultValue;
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) {
      current = current.unwrap() as z.ZodType;
    } else {
      break;
    }
  }
  return { meta: Object.assign({}, ...layers.reverse()), base: current, defaultValue };
}

function typeName(schema: z.ZodType): string {
  if (schema instanceof z.ZodNumber) return schema.format?.includes('int') ? 'integer' : 'number';
  if (schema instanceof z.ZodEnum) return 'string';
  if (schema instanceof z.ZodRecord) return 'object';
  if (schema instanceof z.ZodPipe) return typeName(schema.def.in as z.ZodType);
  return schema.def.type;
}
