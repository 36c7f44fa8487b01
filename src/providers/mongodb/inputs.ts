import { z } from 'zod';
import { connectionUrlField, hostField, networkFields, passwordField, portField, usernameField } from '../_shared/common-fields.js';
import { DATABASE_NAME } from './connection-string.js';
import { overridable } from '../types.js';

export const config = z.strictObject({
  host: hostField('MongoDB server'),
  port: portField('MongoDB server', 27017),
  database: overridable(
    z
      .string()
      .regex(DATABASE_NAME, { message: 'must be a MongoDB database name (no /\\. "$, at most 63 characters)' })
      .optional()
      .describe('Database the operations use; an attachment may switch it, and it wins over connection_string.'),
  ),
  username: usernameField('to authenticate as'),
  password: passwordField('of username'),
  auth_source: z.string().min(1).optional().describe('Database that holds the user; defaults to database.'),
  tls: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields).'),
  connection_string: connectionUrlField(
    ['mongodb', 'mongodb+srv'],
    'mongodb:// or mongodb+srv:// URI; an alternative to host, port, username, password and auth_source.',
  ),
  ...networkFields,
});

export type MongoConfig = z.output<typeof config>;

// Documents, filters and stages are relaxed Extended JSON ({"$oid": …}, {"$date": …}).
export const document = z.record(z.string(), z.unknown());
export const collection = z.string().min(1).describe('Collection name.');
export const filter = document.default({}).describe('Query filter; {} matches every document.');
export const pipeline = z.array(document).describe('Aggregation stages.');

export const findInput = z.strictObject({
  collection,
  filter,
  projection: document.optional().describe('Fields to include or exclude.'),
  sort: document.optional().describe('Sort specification, e.g. {"created_at": -1}.'),
  limit: z.int().min(1).optional().describe("Most documents to return; capped by the call's max_rows."),
});
export const aggregateInput = z.strictObject({ collection, pipeline });
export const countInput = z.strictObject({ collection, filter });
export const insertInput = z.strictObject({ collection, documents: z.array(document).min(1).describe('Documents to insert.') });
export const updateInput = z.strictObject({
  collection,
  filter,
  update: z.union([document, pipeline]).describe('Update operators ({"$set": …}) or an update pipeline.'),
  many: z.boolean().default(false).describe('Update every matching document, not just the first.'),
});
export const deleteInput = z.strictObject({
  collection,
  filter,
  many: z.boolean().default(false).describe('Delete every matching document, not just the first.'),
});

export type FindInput = z.output<typeof findInput>;
export type AggregateInput = z.output<typeof aggregateInput>;
export type CountInput = z.output<typeof countInput>;
export type InsertInput = z.output<typeof insertInput>;
export type UpdateInput = z.output<typeof updateInput>;
export type DeleteInput = z.output<typeof deleteInput>;
