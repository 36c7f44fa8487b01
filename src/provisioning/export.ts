import { stringify } from 'yaml';
import { getProvider, secretFieldNames } from '../providers/registry.js';
import type { CurrentState } from './plan.js';

/**
 * `patchbay export`: an organization's state as a provisioning file that `plan` reports as unchanged once the
 * listed variables hold the current secrets. Every secret becomes `${env:PATCHBAY_<CONNECTOR>_<FIELD>}`; no
 * secret value is ever written.
 */

export interface ExportedFile {
  /** The YAML text, its header listing the variables to set. */
  text: string;
  /** Each environment variable the file refers to, and which secret it stands for. */
  variables: { name: string; secret: string }[];
}

/** `orders-db` + `password` → PATCHBAY_ORDERS_DB_PASSWORD. */
export const variableName = (...parts: string[]): string =>
  ['PATCHBAY', ...parts]
    .map((part) => part.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_+|_+$/g, ''))
    .filter(Boolean)
    .join('_')
    .toUpperCase();

export function exportState(organization: string, state: CurrentState): ExportedFile {
  const variables: ExportedFile['variables'] = [];
  const used = new Set<string>();
  const reference = (secret: string, ...parts: string[]) => {
    let name = variableName(...parts);
    // Two connectors whose names differ only in punctuation must not share a variable.
    for (let n = 2; used.has(name); n += 1) name = `${variableName(...parts)}_${n}`;
    used.add(name);
    variables.push({ name, secret });
    return `\${env:${name}}`;
  };

  const connectors = state.connectors.map(({ row, config }) => {
    const provider = getProvider(row.provider);
    const secrets = new Set(provider ? secretFieldNames(provider) : []);
    const exported: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(config)) {
      if (!secrets.has(key) || value === undefined || value === null) exported[key] = value;
      else if (value && typeof value === 'object' && !Array.isArray(value)) {
        // A secret map (rest's headers): one variable per entry.
        exported[key] = Object.fromEntries(Object.keys(value).map((inner) => [inner, reference(`connector ${row.name}: ${key}.${inner}`, row.name, key, inner)]));
      } else exported[key] = reference(`connector ${row.name}: ${key}`, row.name, key);
    }
    return {
      name: row.name,
      provider: row.provider,
      ...(row.description !== null ? { description: row.description } : {}),
      enabled: row.enabled,
      health_check_interval_s: row.health_check_interval_s,
      config: exported,
    };
  });

  const agents = state.agents.map((agent) => ({
    id: agent.agent_id,
    ...(agent.name !== null ? { name: agent.name } : {}),
    ...(agent.description !== null ? { description: agent.description } : {}),
  }));

  const attachments = state.attachments.map(({ row, agent, connector }) => {
    const override = row.config_override ? (JSON.parse(row.config_override) as Record<string, unknown>) : {};
    return {
      agent,
      alias: row.alias,
      connector,
      mode: row.mode,
      ...(Object.keys(override).length ? { config_override: override } : {}),
      ...(row.limits && Object.keys(row.limits).length ? { limits: row.limits } : {}),
      ...(row.bound_params && Object.keys(row.bound_params).length ? { bound_params: row.bound_params } : {}),
    };
  });

  const webhooks = state.webhooks.map(({ row }, index) => ({
    url: row.url,
    events: [...row.events].sort(),
    secret: reference(`webhook ${row.url}: secret`, 'WEBHOOK', String(index + 1), 'SECRET'),
    enabled: row.enabled,
    ...(row.description !== null ? { description: row.description } : {}),
  }));

  const body = stringify({ organization, connectors, agents, attachments, webhooks }, { lineWidth: 0 });
  const header = [
    `# Patchbay provisioning file: organization ${organization}, exported by patchbay export.`,
    ...(variables.length
      ? ['# Set these environment variables to the current secrets before plan or apply:', ...variables.map((v) => `#   ${v.name}  (${v.secret})`)]
      : ['# It refers to no secret.']),
  ];
  return { text: `${header.join('\n')}\n${body}`, variables };
}
