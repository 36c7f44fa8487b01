import { z } from 'zod';
import { bucketField, httpUrl, networkFields, networkIssues, prefixField, storageOperations } from './_shared/common-fields.js';
import { secret, type Provider } from './types.js';

const config = z.strictObject({
  bucket: bucketField('Cloud Storage bucket'),
  project_id: z.string().trim().min(1).optional().describe("Google Cloud project id; the credentials' project when unset."),
  credentials_json: secret(
    z
      .string()
      .refine(isJsonObject, { message: 'must be the JSON text of a service account key' })
      .optional()
      .describe(
        "Service account key file (JSON text). Without it requests are anonymous: the host's own Google " +
          'credentials are never used.',
      ),
  ),
  api_endpoint: httpUrl
    .optional()
    .describe('Cloud Storage JSON API URL, e.g. an emulator; https://storage.googleapis.com when unset.'),
  prefix: prefixField,
  ...networkFields,
});

const gcs: Provider<typeof config> = {
  id: 'gcs',
  type: 'storage',
  description: 'Google Cloud Storage: one bucket per connector.',
  config,
  refine: (value) => networkIssues(value),
  operations: storageOperations,
  defaultOperation: 'list',
  classify: () => undefined,
};

export default gcs;

function isJsonObject(text: string): boolean {
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
  } catch {
    return false;
  }
}
