import { z } from 'zod';
import {
  alternativeIssues,
  connectionUrlField,
  hostField,
  networkFields,
  networkIssues,
  operation,
  passwordField,
  portField,
  usernameField,
} from './_shared/common-fields.js';
import { overridable, type Provider } from './types.js';

const config = z.strictObject({
  host: hostField('MongoDB server'),
  port: portField('MongoDB server', 27017),
  database: overridable(
    z
      .string()
      .min(1)
      .optional()
      .describe('Database the operations use; an attachment may switch it, and it wins over connection_string.'),
  ),
  username: usernameField('to authenticate as'),
  password: passwordField('of username'),
  auth_source: z.string().min(1).optional().describe('Database that holds the user; defaults to database, then admin.'),
  tls: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields).'),
  connection_string: connectionUrlField(
    ['mongodb', 'mongodb+srv'],
    'mongodb:// or mongodb+srv:// URI; an alternative to host, port, username, password and auth_source.',
  ),
  ...networkFields,
});

// Documents, filters and stages are relaxed Extended JSON ({"$oid": …}, {"$date": …}).
const document = z.record(z.string(), z.unknown());
const collection = z.string().min(1).describe('Collection name.');
const filter = document.default({}).describe('Query filter; {} matches every document.');
const pipeline = z.array(document).describe('Aggregation stages.');

const mongodb: Provider<typeof config> = {
  id: 'mongodb',
  type: 'database',
  description: 'MongoDB collections: find, aggregate, count, insert, update and delete in Extended JSON.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'connection_string', ['host', 'port', 'username', 'password', 'auth_source'], 'host'),
  ],
  operations: {
    find: operation(
      'Find documents, at most max_rows (or limit).',
      z.strictObject({
        collection,
        filter,
        projection: document.optional().describe('Fields to include or exclude.'),
        sort: document.optional().describe('Sort specification, e.g. {"created_at": -1}.'),
        limit: z.int().min(1).optional().describe("Most documents to return; capped by the call's max_rows."),
      }),
      false,
    ),
    aggregate: operation(
      'Run an aggregation pipeline; a pipeline with $out or $merge writes.',
      z.strictObject({ collection, pipeline }),
      (input) => input.pipeline.some(writesStage),
    ),
    count: operation('Count the documents matching a filter.', z.strictObject({ collection, filter }), false),
    insert: operation(
      'Insert documents.',
      z.strictObject({ collection, documents: z.array(document).min(1).describe('Documents to insert.') }),
      true,
    ),
    update: operation(
      'Update the first document matching filter, or every one with many.',
      z.strictObject({
        collection,
        filter,
        update: z.union([document, pipeline]).describe('Update operators ({"$set": …}) or an update pipeline.'),
        many: z.boolean().default(false).describe('Update every matching document, not just the first.'),
      }),
      true,
    ),
    delete: operation(
      'Delete the first document matching filter, or every one with many.',
      z.strictObject({
        collection,
        filter,
        many: z.boolean().default(false).describe('Delete every matching document, not just the first.'),
      }),
      true,
    ),
  },
  defaultOperation: 'find',
  classify: () => undefined,
};

export default mongodb;

/** $out and $merge write the pipeline's result into a collection. */
function writesStage(stage: Record<string, unknown>): boolean {
  return Object.hasOwn(stage, '$out') || Object.hasOwn(stage, '$merge');
}
