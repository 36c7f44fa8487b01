import { httpUrl } from './_shared/common-fields.js';
import s3 from './s3.js';
import { destination, type Provider } from './types.js';

// MinIO speaks the S3 API: s3 plus the difference. There is no default endpoint to fall back on, and MinIO
// serves buckets in the path unless it is set up for virtual-host addressing.
const config = s3.config.extend({
  endpoint: destination(httpUrl.describe('MinIO server URL, e.g. http://minio.internal:9000.')),
  force_path_style: s3.config.shape.force_path_style
    .unwrap()
    .default(true)
    .describe('Address the bucket in the path (endpoint/bucket/key); false for virtual-host addressing.'),
});

// Spread, not copied: refine, operations, classify (and connect, once s3 has one) are s3's.
const minio: Provider<typeof config> = {
  ...s3,
  id: 'minio',
  description: 'MinIO object storage over the S3 API: one bucket per connector.',
  config,
};

export default minio;
