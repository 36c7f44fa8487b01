import { z } from 'zod';
import { bucketField, httpUrl, networkFields, networkIssues, prefixField, storageOperations } from './_shared/common-fields.js';
import { secret, type Provider } from './types.js';
import type { FieldError } from '../errors.js';

const config = z.strictObject({
  container: bucketField('Blob container'),
  connection_string: secret(
    z
      .string()
      .trim()
      .regex(/(^|;)\s*(AccountName|BlobEndpoint|UseDevelopmentStorage)=/i, {
        message: 'must be an Azure Storage connection string (AccountName=…;AccountKey=…)',
      })
      .optional()
      .describe('Storage account connection string; an alternative to account_name with account_key or sas_token.'),
  ),
  account_name: z
    .string()
    .regex(/^[a-z0-9]{3,24}$/, { message: 'must be 3–24 lowercase letters and digits' })
    .optional()
    .describe('Storage account name; with account_key or sas_token.'),
  account_key: secret(z.string().min(1).optional().describe('Storage account key (base64) of account_name.')),
  sas_token: secret(z.string().min(1).optional().describe('Shared access signature (query string) for account_name.')),
  endpoint: httpUrl
    .optional()
    .describe("Blob service URL, e.g. azurite; the account's blob.core.windows.net address when unset."),
  prefix: prefixField,
  ...networkFields,
});

type AzureBlobConfig = z.output<typeof config>;

const azureBlob: Provider<typeof config> = {
  id: 'azure_blob',
  type: 'storage',
  description: 'Azure Blob Storage: one container per connector.',
  config,
  refine: (value) => [...networkIssues(value), ...credentialIssues(value)],
  operations: storageOperations,
  defaultOperation: 'list',
  classify: () => undefined,
};

export default azureBlob;

/** Exactly one of: connection_string, account_name + account_key, account_name + sas_token. */
function credentialIssues(value: AzureBlobConfig): FieldError[] {
  const ways = (['connection_string', 'account_key', 'sas_token'] as const).filter((field) => value[field] !== undefined);
  const [way, second] = ways;
  if (way === undefined) {
    return [{ path: 'connection_string', message: 'give connection_string, or account_name with account_key or sas_token' }];
  }
  if (second !== undefined) return [{ path: second, message: `give only one of ${ways.join(', ')}` }];
  if (way === 'connection_string') {
    return (['account_name', 'endpoint'] as const)
      .filter((field) => value[field] !== undefined)
      .map((field) => ({ path: field, message: 'part of connection_string: give one or the other' }));
  }
  return value.account_name === undefined ? [{ path: 'account_name', message: `required with ${way}` }] : [];
}
