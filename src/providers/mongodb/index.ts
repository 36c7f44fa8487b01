import type { ErrorCode, FieldError } from '../../errors.js';
import { alternativeIssues, networkIssues, operation, togetherIssues } from '../_shared/common-fields.js';
import { config, findInput, aggregateInput, countInput, insertInput, updateInput, deleteInput, type MongoConfig } from './inputs.js';
import { openClient } from './client.js';
import { ConnectionStringError, parseConnectionString } from './connection-string.js';
import { MongoSession, writesStage } from './session.js';
import type { Provider } from '../types.js';

const mongodb: Provider<typeof config> = {
  id: 'mongodb',
  type: 'database',
  description: 'MongoDB collections: find, aggregate, count, insert, update and delete in Extended JSON.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'connection_string', ['host', 'port', 'username', 'password', 'auth_source'], 'host'),
    ...togetherIssues(value, ['username', 'password']),
    ...connectionStringIssues(value),
  ],
  operations: {
    find: operation('Find documents, at most max_rows (or limit).', findInput, 'never'),
    aggregate: operation('Run an aggregation pipeline; a pipeline with $out or $merge writes.', aggregateInput, (input) =>
      input.pipeline.some(writesStage),
    ),
    count: operation('Count the documents matching a filter.', countInput, 'never'),
    insert: operation('Insert documents.', insertInput, 'always'),
    update: operation('Update the first document matching filter, or every one with many.', updateInput, 'always'),
    delete: operation('Delete the first document matching filter, or every one with many.', deleteInput, 'always'),
  },
  defaultOperation: 'find',

  async connect(settings, ctx) {
    const { MongoClient, BSON } = await import('mongodb');
    const { client, database, refusedMember } = await openClient(MongoClient, settings, ctx);
    return new MongoSession(client, client.db(database), BSON.EJSON, refusedMember);
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'number' && SERVER_ERROR_NAMES.has(error.name)) {
      if (Object.hasOwn(SERVER_CODES, code)) return SERVER_CODES[code];
      return SERVER_STATE_CODES.has(code) ? undefined : 'query_failed';
    }
    // Network failures (refused, DNS, TLS, egress) carry the socket's error as their cause: the harness names them.
    if (
      error.name === 'MongoNetworkTimeoutError' ||
      (error.cause instanceof Error && error.cause.name === 'MongoNetworkTimeoutError')
    ) {
      return 'timeout';
    }
    return CLIENT_ERRORS[error.name];
  },
};

export default mongodb;

// The server answered; its codes from https://www.mongodb.com/docs/manual/reference/error-codes/
const SERVER_ERROR_NAMES = new Set(['MongoServerError', 'MongoBulkWriteError']);
const SERVER_CODES: Record<number, ErrorCode> = {
  11: 'auth_failed', // UserNotFound
  18: 'auth_failed', // AuthenticationFailed
  13: 'permission_denied', // Unauthorized
  8000: 'permission_denied', // AtlasError: "user is not allowed to do action"
  26: 'upstream_not_found', // NamespaceNotFound
  50: 'timeout', // MaxTimeMSExpired: maxTimeMS (timeout_ms) passed on the server
  262: 'timeout', // ExceededTimeLimit
};
// The server (or the replica set) is not in a state to serve, rather than the request being wrong.
const SERVER_STATE_CODES = new Set([6, 7, 89, 91, 189, 9001, 10107, 11600, 11602, 13435, 13436]);
// Errors the driver raises itself, before or instead of asking the server.
const CLIENT_ERRORS: Record<string, ErrorCode> = {
  MongoMissingCredentialsError: 'auth_failed',
  MongoInvalidArgumentError: 'query_failed', // e.g. an update document without operators
  BSONError: 'query_failed',
  MongoParseError: 'validation_failed',
};

/** A connection string the driver would accept and Patchbay allows, and a database to use. */
function connectionStringIssues(settings: MongoConfig): FieldError[] {
  if (settings.connection_string === undefined) {
    return settings.database === undefined ? [{ path: 'database', message: 'required' }] : [];
  }
  try {
    const parsed = parseConnectionString(settings.connection_string);
    if (settings.database === undefined && parsed.database === undefined) {
      return [{ path: 'database', message: 'required unless connection_string names a database' }];
    }
    return [];
  } catch (error) {
    if (!(error instanceof ConnectionStringError)) throw error;
    return [{ path: 'connection_string', message: error.message }];
  }
}
