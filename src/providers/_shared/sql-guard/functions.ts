import type { SqlDialect } from '../sql-params.js';

/**
 * Functions read mode refuses by name, wherever a statement calls them (schema-qualified or not, any case): each
 * has an effect that no read-only transaction, session or file stops, or that outlives the call. A name ending
 * in `*` covers every function that starts with it. Functions that only write to the database (`nextval()`) are
 * listed too, although the database would refuse them: the call then fails clearly, before anything is sent.
 * These names give a clear message early; the rule for every other function (user-defined, extension, volatile)
 * comes from the server's own catalogue, per session (catalogue.ts).
 */
interface Denied {
  names: readonly string[];
  /** Completes "… is refused in read mode: it …". */
  effect: string;
}

const POSTGRESQL: readonly Denied[] = [
  {
    names: ['pg_read_file', 'pg_read_binary_file', 'pg_stat_file', 'pg_ls_*', 'pg_file_*', 'pg_logdir_ls'],
    effect: "reads, lists or writes the database server's own files",
  },
  { names: ['lo_*', 'loread', 'lowrite'], effect: "uses large objects, which import and export the server's files" },
  {
    names: ['dblink*', 'pg_background_*'],
    effect: 'runs SQL in another session, outside the read-only transaction',
  },
  {
    names: ['query_to_xml*', 'cursor_to_xml*', 'ts_stat'],
    effect: 'runs SQL given as text, which read mode cannot check',
  },
  { names: ['pg_sleep*'], effect: 'holds a connection doing nothing' },
  { names: ['set_config'], effect: "changes settings, the call's statement_timeout among them" },
  {
    names: ['pg_advisory_*', 'pg_try_advisory_*'],
    effect: 'takes or releases advisory locks, which outlive the call on its pooled connection',
  },
  {
    names: [
      ...['pg_terminate_backend', 'pg_cancel_backend', 'pg_reload_conf', 'pg_rotate_logfile', 'pg_promote'],
      ...['pg_switch_wal', 'pg_create_restore_point', 'pg_backup_*', 'pg_wal_replay_*', 'pg_log_backend_memory_contexts'],
      ...['pg_log_standby_snapshot', 'pg_stat_reset*', 'pg_stat_statements_reset', 'pg_import_system_collations'],
      'binary_upgrade_*',
    ],
    effect: 'acts on the server or on other sessions',
  },
  {
    names: ['pg_*_replication_slot', 'pg_replication_slot_advance', 'pg_logical_*', 'pg_replication_origin_*'],
    effect: 'creates, drops or consumes replication state',
  },
  { names: ['nextval', 'setval'], effect: 'advances or sets a sequence' },
  { names: ['txid_current', 'pg_current_xact_id'], effect: 'assigns a transaction id' },
  { names: ['pg_notify'], effect: 'sends a notification' },
];

const MYSQL: readonly Denied[] = [
  { names: ['sleep', 'benchmark'], effect: "holds a connection doing nothing, or burns the server's CPU" },
  { names: ['load_file'], effect: "reads the database server's own files" },
  {
    names: ['get_lock', 'release_lock', 'release_all_locks', 'is_free_lock', 'is_used_lock'],
    effect: 'takes, releases or probes named locks, which outlive the call on its pooled connection',
  },
  {
    names: [
      'master_pos_wait',
      'source_pos_wait',
      'master_gtid_wait',
      'wait_for_executed_gtid_set',
      'wait_until_sql_thread_after_gtids',
    ],
    effect: 'waits on replication',
  },
  { names: ['nextval', 'setval'], effect: 'advances or sets a sequence' },
  {
    names: ['last_insert_id'],
    effect: 'sets, given a value, what the next call on the pooled connection reads',
  },
  { names: ['sys_exec', 'sys_eval'], effect: 'runs programs on the database server (lib_mysqludf_sys)' },
];

const SQLITE: readonly Denied[] = [
  { names: ['load_extension'], effect: 'loads native code into the process' },
  { names: ['fts3_tokenizer'], effect: 'registers a tokenizer by memory address' },
  // The sqlite3 shell's edit() is not here: Patchbay never runs the shell, and `edit` is a common column name.
  { names: ['readfile', 'writefile', 'fsdir'], effect: 'reads or writes files (the fileio extension)' },
  { names: ['pragma_database_list'], effect: "shows the database file's full path on the server" },
];

const DENIED: Readonly<Record<SqlDialect, readonly Denied[]>> = { postgresql: POSTGRESQL, mysql: MYSQL, sqlite: SQLITE };

/** Each dialect's names: the exact ones in a map, the patterns with a `*` in a short list. */
const INDEX = Object.fromEntries(
  Object.entries(DENIED).map(([dialect, entries]) => {
    const exact = new Map<string, string>();
    const patterns: [string, string][] = [];
    for (const { names, effect } of entries) {
      for (const name of names) {
        if (name.includes('*')) patterns.push([name, effect]);
        else if (!exact.has(name)) exact.set(name, effect);
      }
    }
    return [dialect, { exact, patterns }];
  }),
) as Record<SqlDialect, { exact: Map<string, string>; patterns: [string, string][] }>;

/** Why read mode refuses a call of `name` in `dialect`, or undefined when it does not. */
export function deniedFunction(dialect: SqlDialect, name: string): string | undefined {
  const lower = name.toLowerCase();
  const { exact, patterns } = INDEX[dialect];
  return exact.get(lower) ?? patterns.find(([pattern]) => matches(lower, pattern))?.[1];
}

function matches(name: string, pattern: string): boolean {
  const star = pattern.indexOf('*');
  return name.startsWith(pattern.slice(0, star)) && name.endsWith(pattern.slice(star + 1)) && name.length >= pattern.length - 1;
}
