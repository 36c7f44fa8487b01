import pg from 'pg';
import type { Logger } from 'pino';
import type { ModelStatic, Sequelize, Transaction } from 'sequelize';
import { CHANGE_CHANNEL } from '../../db/migrations/0008-change-notify.js';
import type { Models } from '../../db/models/index.js';
import { CONNECT_TIMEOUT_MS, isPostgres } from '../../db/sequelize.js';

/**
 * What the run-time caches key their entries by: `api_key:<id>`, `agent_token:<id>`, `user:<id>`,
 * `organization:<id>`, `agent:<pk>`, `attachment:<id>` and `connector:<id>`. `<kind>:*` names every entry of
 * that kind (a bulk change whose rows are not known).
 */
export type ChangeTag = string;

/** A change: the tags it touches, or everything (a listener that may have missed changes). */
export type Change = readonly ChangeTag[] | 'all';

/** Which tags a changed row of each table touches, from the columns its notice carries (see migration 0008). */
const TAGS_OF: Record<string, (ids: (string | undefined)[]) => ChangeTag[]> = {
  pb_api_keys: ([id]) => [`api_key:${id ?? '*'}`],
  pb_agent_tokens: ([id]) => [`agent_token:${id ?? '*'}`],
  pb_users: ([id]) => [`user:${id ?? '*'}`],
  pb_memberships: ([userId]) => [`user:${userId ?? '*'}`],
  pb_organizations: ([id]) => [`organization:${id ?? '*'}`],
  pb_agents: ([id]) => [`agent:${id ?? '*'}`],
  pb_connector_instances: ([id, agentId]) => [`attachment:${id ?? '*'}`, `agent:${agentId ?? '*'}`],
  pb_connectors: ([id]) => [`connector:${id ?? '*'}`],
};

/** The model behind each table, and the columns (in the notice's order) a change of one of its rows names. */
const WATCHED: { model: keyof Models; table: string; columns: string[] }[] = [
  { model: 'ApiKey', table: 'pb_api_keys', columns: ['id'] },
  { model: 'AgentToken', table: 'pb_agent_tokens', columns: ['id'] },
  { model: 'User', table: 'pb_users', columns: ['id'] },
  { model: 'Membership', table: 'pb_memberships', columns: ['user_id'] },
  { model: 'Organization', table: 'pb_organizations', columns: ['id'] },
  { model: 'Agent', table: 'pb_agents', columns: ['id'] },
  { model: 'ConnectorInstance', table: 'pb_connector_instances', columns: ['id', 'agent_id'] },
  { model: 'Connector', table: 'pb_connectors', columns: ['id'] },
];

/** A notice `<table>:<id>[:<id>]` as tags; everything for a table it does not know. */
export function tagsOfNotice(payload: string): Change {
  const [table = '', ...ids] = payload.split(':');
  const tags = TAGS_OF[table];
  return tags ? tags(ids.map((id) => id || undefined)) : 'all';
}

/** How often a SQLite process looks for commits of other processes on the same file. */
export const SQLITE_POLL_MS = 250;
/** The PostgreSQL listener's reconnect delay after it lost its connection (it drops every entry meanwhile). */
const RECONNECT_MS = 1_000;

type SqliteHandle = { get(sql: string, callback: (error: Error | null, row?: Record<string, unknown>) => void): void };

/**
 * Tells the run-time caches what changed, from three sources:
 * - this process: Sequelize hooks on the watched models, delivered once the change commits (at once without a
 *   transaction), so a change made here is seen here by the very next call;
 * - other processes on PostgreSQL: `LISTEN patchbay_changes`, fed by the triggers of migration 0008 inside the
 *   writing transaction; a listener that loses its connection reports `all` and again when it is back;
 * - other processes on SQLite (the CLI beside `serve`): `PRAGMA data_version` on this process's own connection,
 *   polled every SQLITE_POLL_MS; it moves only when another connection commits, and then everything is dropped.
 * Writes that bypass the models in this process (raw SQL) reach the caches through the same two cross-process
 * paths (a trigger hears every writer; data_version sees other connections), or through `invalidate` called by
 * the writer; the caches' TTL bounds the rest.
 */
export class ChangeFeed {
  private readonly listeners = new Set<(change: Change) => void>();
  private listener?: pg.Client;
  private poll?: NodeJS.Timeout;
  private reconnect?: NodeJS.Timeout;
  private closed = false;

  constructor(private readonly deps: { sequelize: Sequelize; models: Models; databaseUrl?: string; log?: Logger }) {
    for (const { model, columns } of WATCHED) this.watch(deps.models[model] as unknown as ModelStatic<never>, model, columns);
  }

  subscribe(listener: (change: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Announces a change in this process (for writes that bypass the models: raw SQL such as reencrypt). */
  invalidate(change: Change): void {
    for (const listener of this.listeners) listener(change);
  }

  /** Starts hearing other processes. */
  async start(): Promise<void> {
    if (isPostgres(this.deps.sequelize)) await this.listen();
    else this.watchDataVersion();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.poll);
    clearTimeout(this.reconnect);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
  }

  private watch(model: ModelStatic<never>, name: string, columns: string[]): void {
    const table = WATCHED.find((watched) => watched.model === name)?.table as string;
    const tagsOf = TAGS_OF[table] as (ids: (string | undefined)[]) => ChangeTag[];
    const afterCommit = (transaction: Transaction | null | undefined, change: Change) => {
      if (transaction) transaction.afterCommit(() => this.invalidate(change));
      else this.invalidate(change);
    };
    const ofRow = (row: Record<string, unknown>) => tagsOf(columns.map((column) => stringOrUndefined(row[column])));
    const ofWhere = (where: unknown) => {
      const conditions = (where ?? {}) as Record<string, unknown>;
      return tagsOf(columns.map((column) => stringOrUndefined(conditions[column])));
    };
    type Options = { transaction?: Transaction | null; where?: unknown };
    const row = (instance: { get(key: string): unknown }) =>
      Object.fromEntries(columns.map((column) => [column, instance.get(column)]));
    model.addHook('afterSave', (instance: { get(key: string): unknown }, options: Options) =>
      afterCommit(options.transaction, ofRow(row(instance))),
    );
    model.addHook('afterDestroy', (instance: { get(key: string): unknown }, options: Options) =>
      afterCommit(options.transaction, ofRow(row(instance))),
    );
    model.addHook('afterBulkCreate', (instances: readonly { get(key: string): unknown }[], options: Options) =>
      afterCommit(
        options.transaction,
        instances.flatMap((instance) => ofRow(row(instance))),
      ),
    );
    model.addHook('afterBulkUpdate', (options: Options) => afterCommit(options.transaction, ofWhere(options.where)));
    model.addHook('afterBulkDestroy', (options: Options) => afterCommit(options.transaction, ofWhere(options.where)));
    model.addHook('afterUpsert', (_result: unknown, options: Options) => afterCommit(options.transaction, tagsOf([])));
  }

  private async listen(): Promise<void> {
    if (this.closed || !this.deps.databaseUrl) return;
    const client = new pg.Client({
      connectionString: this.deps.databaseUrl,
      application_name: 'patchbay-changes',
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    });
    const lost = (error?: Error) => {
      if (this.listener !== client) return;
      this.listener = undefined;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.closed) return;
      this.deps.log?.warn(
        { err: error },
        'change listener lost its connection; dropping cached credentials and attachments until it is back',
      );
      this.invalidate('all');
      this.reconnect = setTimeout(() => void this.listen().catch(() => lost()), RECONNECT_MS);
      this.reconnect.unref();
    };
    this.listener = client;
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (message) => {
      if (message.channel === CHANGE_CHANNEL) this.invalidate(tagsOfNotice(message.payload ?? ''));
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (error) {
      lost(error as Error);
      return;
    }
    // Whatever changed before this listener was in place is unknown.
    this.invalidate('all');
  }

  private watchDataVersion(): void {
    // Sequelize's own connection, never a new one: data_version moves for every connection but the one asked,
    // so this one sees other processes (and this process's transaction handles), not its own audit writes. Read
    // from the manager's table so that a closed Sequelize is never reopened here.
    const manager = this.deps.sequelize.connectionManager as unknown as {
      connections?: Record<string, SqliteHandle | undefined>;
    };
    let last: unknown;
    let busy = false;
    this.poll = setInterval(() => {
      const handle = manager.connections?.default;
      if (busy || this.closed || !handle) return;
      busy = true;
      handle.get('PRAGMA data_version', (error, row) => {
        busy = false;
        const version = error ? undefined : row?.data_version;
        if (version === undefined) return;
        if (last !== undefined && version !== last) this.invalidate('all');
        last = version;
      });
    }, SQLITE_POLL_MS);
    this.poll.unref();
  }
}

const stringOrUndefined = (value: unknown): string | undefined =>
  typeof value === 'string' || typeof value === 'number' ? String(value) : undefined;
