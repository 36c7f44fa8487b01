import { z } from 'zod';
import type { FieldError } from '../../errors.js';
import { egressAgents } from '../../net/http-agents.js';
import { bucketField, httpUrl, networkFields, networkIssues, prefixField, storageOperations } from '../_shared/common-fields.js';
import { codeForStatus, isAbort, openStorageSession } from '../_shared/storage-session.js';
import { parseServiceAccount } from './service-account.js';
import { destination, secret, type Provider } from '../types.js';

const config = z.strictObject({
  bucket: bucketField('Cloud Storage bucket'),
  project_id: z
    .string()
    .trim()
    .min(1)
    .optional()
    .describe(
      'Google Cloud project of the bucket, for reference: object operations address the bucket directly and do not use it.',
    ),
  credentials_json: secret(
    z
      .string()
      .refine(isJsonObject, { message: 'must be the JSON text of a service account key' })
      .optional()
      .describe(
        "Service account key file (JSON text). Without it requests are anonymous: the host's own Google " +
          'credentials are never used.',
      ),
    'service_account_json',
  ),
  api_endpoint: destination(
    httpUrl.optional().describe('Cloud Storage JSON API URL, e.g. an emulator; https://storage.googleapis.com when unset.'),
  ),
  prefix: prefixField,
  ...networkFields,
});

const DEFAULT_API_ENDPOINT = 'https://storage.googleapis.com';

const gcs: Provider<typeof config> = {
  id: 'gcs',
  type: 'storage',
  description: 'Google Cloud Storage: one bucket per connector.',
  config,
  refine: (value) => [...networkIssues(value), ...serviceAccountIssues(value.credentials_json)],
  operations: storageOperations,
  defaultOperation: 'list',

  async connect(settings, ctx) {
    const { GcsBucket } = await import('./json-api.js');
    const key = settings.credentials_json === undefined ? undefined : parseServiceAccount(settings.credentials_json);
    if (typeof key === 'string') throw new Error(`credentials_json ${key}`); // refine has refused it already
    const agents = egressAgents(ctx.egress, { maxSockets: ctx.poolMax, tls: settings });
    const bucket = new GcsBucket(agents, settings.api_endpoint ?? DEFAULT_API_ENDPOINT, settings.bucket, settings.prefix, key);
    return openStorageSession(bucket, settings.prefix, ctx.signal);
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    if (isAbort(error)) return 'timeout';
    if (error.name !== 'GcsError') return undefined;
    const { status, tokenRefused } = error as Error & { status: number; tokenRefused: boolean };
    // The token endpoint answers a revoked, deleted or unknown key with 400 invalid_grant or 401 invalid_client.
    if (tokenRefused && status < 500) return 'auth_failed';
    return codeForStatus(status);
  },
};

export default gcs;

function serviceAccountIssues(credentials: string | undefined): FieldError[] {
  if (credentials === undefined) return [];
  const key = parseServiceAccount(credentials);
  return typeof key === 'string' ? [{ path: 'credentials_json', message: key }] : [];
}

function isJsonObject(text: string): boolean {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  } catch {
    return false;
  }
}
