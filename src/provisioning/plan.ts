import { isDeepStrictEqual } from 'node:util';
import { secretFieldNames } from '../providers/registry.js';
import type { Agent, Connector, ConnectorInstance, Webhook } from '../db/models/index.js';
import { emptyToNull, type DesiredAgent, type DesiredAttachment, type DesiredConnector, type DesiredState, type DesiredWebhook } from './desired.js';

/** What an organization holds now, read with secrets decrypted (they are compared, never shown). */
export interface CurrentState {
  connectors: { row: Connector; config: Record<string, unknown> }[];
  agents: Agent[];
  attachments: { row: ConnectorInstance; agent: string; connector: string }[];
  webhooks: { row: Webhook; secret: string }[];
}

export type ResourceType = 'connector' | 'agent' | 'attachment' | 'webhook';

/** One line of a plan. `fields` names what changes (a secret as "(changed)"), never a value. */
export type Change =
  | { action: 'create'; type: 'connector'; key: string; desired: DesiredConnector }
  | { action: 'create'; type: 'agent'; key: string; desired: DesiredAgent }
  | { action: 'create'; type: 'attachment'; key: string; desired: DesiredAttachment }
  | { action: 'create'; type: 'webhook'; key: string; desired: DesiredWebhook }
  | { action: 'update'; type: 'connector'; key: string; fields: string[]; desired: DesiredConnector; id: string }
  | { action: 'update'; type: 'agent'; key: string; fields: string[]; desired: DesiredAgent; id: string }
  | { action: 'update'; type: 'attachment'; key: string; fields: string[]; desired: DesiredAttachment; id: string }
  | { action: 'update'; type: 'webhook'; key: string; fields: string[]; desired: DesiredWebhook; id: string }
  | { action: 'delete'; type: ResourceType; key: string; id: string; reason?: string };

/** What a plan reports outward (CLI output, the HTTP endpoint): no desired values, so no secret. */
export interface PlanLine {
  action: Change['action'];
  type: ResourceType;
  key: string;
  fields?: string[];
  reason?: string;
}

export const planLine = (change: Change): PlanLine => ({
  action: change.action,
  type: change.type,
  key: change.key,
  ...('fields' in change ? { fields: change.fields } : {}),
  ...(change.action === 'delete' && change.reason ? { reason: change.reason } : {}),
});

export const CHANGED = '(changed)';

/**
 * The changes that turn `current` into `desired`, in the order they can be made: connectors and agents, then
 * attachments (their deletions first, so a replaced alias is free again), then webhooks, then (only with
 * `prune`) the deletions of what the file no longer names, dependants first.
 */
export function diff(desired: DesiredState, current: CurrentState, options: { prune: boolean }): Change[] {
  const changes: Change[] = [
    ...createOrUpdate('connector', desired.connectors, current.connectors, {
      key: (want) => want.name,
      keyOf: (have) => have.row.name,
      id: (have) => have.row.id,
      fields: (want, have) => connectorFields(want, have.row, have.config),
    }),
    ...createOrUpdate('agent', desired.agents, current.agents, {
      key: (want) => want.id,
      keyOf: (have) => have.agent_id,
      id: (have) => have.id,
      fields: (want, have) => (['name', 'description'] as const).filter((f) => (have[f] ?? null) !== want[f]),
    }),
  ];

  const attachmentKey = (agent: string, alias: string) => `${agent}/${alias}`;
  const attachmentsByKey = new Map(current.attachments.map((a) => [attachmentKey(a.agent, a.row.alias), a]));
  const wantedAttachments = new Set(desired.attachments.map((a) => attachmentKey(a.agent, a.alias)));
  const attachmentChanges: Change[] = [];
  for (const want of desired.attachments) {
    const key = attachmentKey(want.agent, want.alias);
    const have = attachmentsByKey.get(key);
    if (have && have.connector !== want.connector) {
      // An attachment cannot move to another connector: it is replaced.
      changes.push({ action: 'delete', type: 'attachment', key, id: have.row.id, reason: `now attaches connector ${want.connector}` });
      attachmentChanges.push({ action: 'create', type: 'attachment', key, desired: want });
      continue;
    }
    if (!have) {
      attachmentChanges.push({ action: 'create', type: 'attachment', key, desired: want });
      continue;
    }
    const fields = attachmentFields(want, have.row);
    if (fields.length) attachmentChanges.push({ action: 'update', type: 'attachment', key, fields, desired: want, id: have.row.id });
  }
  if (options.prune) {
    for (const have of current.attachments) {
      const key = attachmentKey(have.agent, have.row.alias);
      if (!wantedAttachments.has(key)) changes.push({ action: 'delete', type: 'attachment', key, id: have.row.id });
    }
  }
  changes.push(...attachmentChanges);

  changes.push(
    ...createOrUpdate('webhook', desired.webhooks, current.webhooks, {
      key: (want) => want.url,
      keyOf: (have) => have.row.url,
      id: (have) => have.row.id,
      fields: webhookFields,
    }),
  );

  if (options.prune) {
    const urls = new Set(desired.webhooks.map((w) => w.url));
    for (const have of current.webhooks) if (!urls.has(have.row.url)) changes.push({ action: 'delete', type: 'webhook', key: have.row.url, id: have.row.id });
    const ids = new Set(desired.agents.map((a) => a.id));
    for (const have of current.agents) if (!ids.has(have.agent_id)) changes.push({ action: 'delete', type: 'agent', key: have.agent_id, id: have.id });
    const names = new Set(desired.connectors.map((c) => c.name));
    for (const have of current.connectors) if (!names.has(have.row.name)) changes.push({ action: 'delete', type: 'connector', key: have.row.name, id: have.row.id });
  }
  return changes;
}

type Upserted = { connector: DesiredConnector; agent: DesiredAgent; webhook: DesiredWebhook };

/** A create for each wanted resource `current` lacks, an update for each one whose `fields` differ. */
function createOrUpdate<T extends keyof Upserted, H>(
  type: T,
  wanted: Upserted[T][],
  current: H[],
  by: { key: (want: Upserted[T]) => string; keyOf: (have: H) => string; id: (have: H) => string; fields: (want: Upserted[T], have: H) => string[] },
): Change[] {
  const byKey = new Map(current.map((have) => [by.keyOf(have), have]));
  return wanted.flatMap((want): Change[] => {
    const key = by.key(want);
    const have = byKey.get(key);
    if (!have) return [{ action: 'create', type, key, desired: want } as Change];
    const fields = by.fields(want, have);
    return fields.length ? [{ action: 'update', type, key, fields, desired: want, id: by.id(have) } as Change] : [];
  });
}

function connectorFields(want: DesiredConnector, row: Connector, stored: Record<string, unknown>): string[] {
  const fields: string[] = [];
  if ((row.description ?? null) !== want.description) fields.push('description');
  if (row.enabled !== want.enabled) fields.push('enabled');
  if (row.health_check_interval_s !== want.health_check_interval_s) fields.push('health_check_interval_s');
  const secrets = new Set(secretFieldNames(want.provider));
  for (const key of [...new Set([...Object.keys(stored), ...Object.keys(want.config)])].sort()) {
    if (isDeepStrictEqual(stored[key], want.config[key])) continue;
    fields.push(secrets.has(key) ? `config.${key} ${CHANGED}` : `config.${key}`);
  }
  return fields;
}

function webhookFields(want: DesiredWebhook, have: CurrentState['webhooks'][number]): string[] {
  const fields: string[] = [];
  if (!isDeepStrictEqual([...have.row.events].sort(), want.events)) fields.push('events');
  if (have.row.enabled !== want.enabled) fields.push('enabled');
  if ((have.row.description ?? null) !== want.description) fields.push('description');
  if (have.secret !== want.secret) fields.push(`secret ${CHANGED}`);
  return fields;
}

function attachmentFields(want: DesiredAttachment, row: ConnectorInstance): string[] {
  const fields: string[] = [];
  if (row.mode !== want.mode) fields.push('mode');
  const override = row.config_override ? (JSON.parse(row.config_override) as Record<string, unknown>) : null;
  if (!isDeepStrictEqual(emptyToNull(override), want.config_override)) fields.push('config_override');
  if (!isDeepStrictEqual(row.limits ?? {}, want.limits)) fields.push('limits');
  if (!isDeepStrictEqual(emptyToNull(row.bound_params), want.bound_params)) fields.push('bound_params');
  return fields;
}

/** "+ create connector orders", "~ update connector orders: config.host, config.password (changed)", "- delete …". */
export function formatPlan(organization: string, lines: PlanLine[]): string {
  if (lines.length === 0) return `organization ${organization}: no changes\n`;
  const sign = { create: '+', update: '~', delete: '-' } as const;
  const out = [`organization ${organization}:`];
  for (const line of lines) {
    const detail = line.fields?.length ? `: ${line.fields.join(', ')}` : line.reason ? ` (${line.reason})` : '';
    out.push(`  ${sign[line.action]} ${line.action} ${line.type} ${line.key}${detail}`);
  }
  const count = (action: PlanLine['action']) => lines.filter((l) => l.action === action).length;
  out.push(`${count('create')} to create, ${count('update')} to update, ${count('delete')} to delete`);
  return `${out.join('\n')}\n`;
}
