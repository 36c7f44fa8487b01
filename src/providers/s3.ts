import { z } from 'zod';
import {
  awsCredentialFields,
  bucketField,
  httpUrl,
  networkFields,
  networkIssues,
  prefixField,
  storageOperations,
  togetherIssues,
} from './_shared/common-fields.js';
import { secret, type Provider } from './types.js';

const config = z.strictObject({
  bucket: bucketField('S3 bucket'),
  region: z.string().trim().min(1).default('us-east-1').describe('AWS region of the bucket, used to sign requests.'),
  endpoint: httpUrl.optional().describe('S3-compatible endpoint URL; AWS S3 of region when unset.'),
  ...awsCredentialFields,
  session_token: secret(z.string().min(1).optional().describe('Session token of temporary credentials; needs access_key_id.')),
  force_path_style: z
    .boolean()
    .default(false)
    .describe('Address the bucket in the path (endpoint/bucket/key) rather than as a subdomain.'),
  prefix: prefixField,
  ...networkFields,
});

const s3: Provider<typeof config> = {
  id: 's3',
  type: 'storage',
  description: 'Amazon S3 and S3-compatible object storage: one bucket per connector.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...togetherIssues(value, ['access_key_id', 'secret_access_key']),
    ...(value.session_token !== undefined && value.access_key_id === undefined
      ? [{ path: 'access_key_id', message: 'required when session_token is set' }]
      : []),
  ],
  operations: storageOperations,
  defaultOperation: 'list',
  classify: () => undefined,
};

export default s3;
