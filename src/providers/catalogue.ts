import { z } from 'zod';
import { describeFields, listProviders, unwrap, type FieldDescription } from './registry.js';
import type { Provider } from './types.js';

/** The groups a form shows a provider's fields in, in this order. */
export const fieldGroups = ['Connection', 'Authentication', 'TLS', 'Advanced'] as const;
export type FieldGroup = (typeof fieldGroups)[number];
export type FieldFormat = 'hostname' | 'uri' | 'pem' | 'json';

/**
 * How a form presents one config field (the web console generates its forms from these). Derived here from the
 * zod schema and the field's name, so that provider files need nothing; a provider may still set any of these
 * keys with `.meta({ label: … })` on a field, which wins.
 */
export interface FieldPresentation {
  label: string;
  enum?: string[];
  format?: FieldFormat;
  multiline: boolean;
  group: FieldGroup;
  order: number;
  /** Shown only while every named field holds one of the listed values, e.g. token when auth_type is bearer. */
  visible_when?: Record<string, unknown[]>;
}

// Words a label spells in capitals or in another form than its field name does.
const WORDS: Record<string, string> = {
  id: 'ID', url: 'URL', uri: 'URI', tls: 'TLS', ssl: 'SSL', api: 'API', ca: 'CA', db: 'DB', sas: 'SAS', wsdl: 'WSDL',
  json: 'JSON', sasl: 'SASL', nkey: 'NKey', ws: 'WS', vhost: 'Virtual host', ms: '(ms)', s: '(s)',
};

export function fieldLabel(name: string): string {
  const words = name.split('_').map((word) => WORDS[word] ?? word);
  const first = words[0] ?? name;
  words[0] = first.charAt(0).toUpperCase() + first.slice(1);
  return words.join(' ');
}

const URI_FIELDS = new Set(['url', 'base_url', 'endpoint', 'wsdl_url', 'token_url', 'queue_url', 'api_endpoint', 'connection_string']);
const AUTH_FIELDS = new Set([
  'username', 'auth_type', 'api_key_name', 'api_key_in', 'client_id', 'token_url', 'scopes', 'sasl_mechanism',
  'access_key_id', 'account_name', 'ws_security', 'auth_source', 'project_id',
]);
const ADVANCED_FIELDS = new Set([
  'connect_timeout_ms', 'allowed_commands', 'read_methods', 'health_path', 'headers', 'schema', 'prefix',
  'force_path_style', 'readonly', 'auth_source',
]);

// Which auth_type each credential field of the HTTP providers belongs to.
const BY_AUTH_TYPE: Record<string, string[]> = {
  token: ['bearer'],
  username: ['basic'],
  password: ['basic'],
  api_key: ['api_key'],
  api_key_name: ['api_key'],
  api_key_in: ['api_key'],
  client_id: ['oauth2_client_credentials'],
  client_secret: ['oauth2_client_credentials'],
  token_url: ['oauth2_client_credentials'],
  scopes: ['oauth2_client_credentials'],
};

function format(name: string, field: FieldDescription): FieldFormat | undefined {
  if (name === 'host') return 'hostname';
  if (name === 'tls_ca' || name === 'tls_cert' || name === 'tls_key') return 'pem';
  if (name.endsWith('_json') || field.type === 'object') return 'json';
  if (URI_FIELDS.has(name)) return 'uri';
  return undefined;
}

function group(name: string, field: FieldDescription): FieldGroup {
  if (name.startsWith('tls_') || name === 'tls' || name === 'ssl') return 'TLS';
  if (name === 'connection_string' || name === 'url') return 'Connection';
  if (ADVANCED_FIELDS.has(name)) return 'Advanced';
  if (field.secret || AUTH_FIELDS.has(name)) return 'Authentication';
  return 'Connection';
}

function visibleWhen(name: string, names: Set<string>): Record<string, unknown[]> | undefined {
  if (names.has('auth_type') && BY_AUTH_TYPE[name]) return { auth_type: BY_AUTH_TYPE[name] };
  // TLS settings matter only once TLS is on, where a switch turns it on.
  if (name.startsWith('tls_')) {
    const toggle = ['ssl', 'tls'].find((candidate) => names.has(candidate));
    if (toggle) return { [toggle]: [true] };
  }
  return undefined;
}

const PRESENTATION_KEYS = ['label', 'enum', 'format', 'multiline', 'group', 'order', 'visible_when'] as const;

/** The presentation of every config field of a provider, in the schema's order. */
export function presentFields(provider: Provider): (FieldDescription & FieldPresentation)[] {
  const fields = describeFields(provider);
  const names = new Set(fields.map((field) => field.name));
  return fields.map((field, index) => {
    const schema = provider.config.shape[field.name] as z.ZodType;
    const { meta, base } = unwrap(schema);
    const fieldFormat = format(field.name, field);
    const derived: FieldPresentation = {
      label: fieldLabel(field.name),
      ...(base instanceof z.ZodEnum ? { enum: (base.options as unknown[]).map(String) } : {}),
      ...(fieldFormat ? { format: fieldFormat } : {}),
      multiline: fieldFormat === 'pem' || fieldFormat === 'json',
      group: group(field.name, field),
      order: index,
    };
    const when = visibleWhen(field.name, names);
    if (when) derived.visible_when = when;
    const own = Object.fromEntries(PRESENTATION_KEYS.filter((key) => meta[key] !== undefined).map((key) => [key, meta[key]]));
    return { ...field, ...derived, ...own };
  });
}

/** The code catalogue as data: what `GET /connectors/types` serves and what the PolicySynth registry mirrors. */
export function catalogueForRegistry() {
  return listProviders().map((provider) => ({
    id: provider.id,
    type: provider.type,
    description: provider.description,
    operations: Object.keys(provider.operations),
    fields: presentFields(provider),
  }));
}
