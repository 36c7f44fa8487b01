import type * as SQS from '@aws-sdk/client-sqs';
import type { ErrorCode } from '../../errors.js';
import { consumeOutput, networkIssues, operation, togetherIssues } from '../_shared/common-fields.js';
import { egressAgents, type EgressAgents } from '../../net/http-agents.js';
import { codeForStatus, isAbort } from '../_shared/storage-session.js';
import { config, publishInput, consumeInput, type SqsConfig } from './inputs.js';
import { SqsSession } from './session.js';
import type { Provider } from '../types.js';

const sqs: Provider<typeof config> = {
  id: 'sqs',
  type: 'messaging',
  description: 'Amazon SQS queues: send, and receive with deletion.',
  config,
  refine: (value) => [...networkIssues(value), ...togetherIssues(value, ['access_key_id', 'secret_access_key'])],
  operations: {
    publish: operation('Send a message to the queue.', publishInput, 'always'),
    // Messages returned are deleted once the response is built, so they leave the queue: a write.
    consume: operation('Receive up to max_messages and delete them.', consumeInput, 'always', { output: consumeOutput }),
  },
  defaultOperation: 'publish',

  async connect(settings, ctx) {
    const sdk = await import('@aws-sdk/client-sqs');
    const agents = egressAgents(ctx.egress, { maxSockets: ctx.poolMax, tls: settings });
    const session = new SqsSession(sdk, new sdk.SQSClient(clientConfig(settings, agents)), settings.queue_url, agents);
    // The queue's first round trip, within the connect deadline: a session is only handed out for a queue that answers.
    try {
      await session.ping(ctx.signal);
    } catch (error) {
      await session.close();
      throw error;
    }
    return session;
  },

  classify(error) {
    if (!(error instanceof Error)) return undefined;
    if (isAbort(error)) return 'timeout';
    const { Code } = error as { Code?: unknown };
    return SQS_CODES[typeof Code === 'string' ? Code : error.name] ?? SQS_CODES[error.name] ?? codeForStatus(statusOf(error));
  },
};

export default sqs;

// SQS error codes (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/CommonErrors.html and
// each action's errors), by their JSON name and their older query-protocol code; others go by status.
const SQS_CODES: Record<string, ErrorCode> = {
  QueueDoesNotExist: 'upstream_not_found',
  'AWS.SimpleQueueService.NonExistentQueue': 'upstream_not_found',
  InvalidClientTokenId: 'auth_failed',
  UnrecognizedClientException: 'auth_failed',
  SignatureDoesNotMatch: 'auth_failed',
  IncompleteSignature: 'auth_failed',
  MissingAuthenticationToken: 'auth_failed',
  InvalidSecurity: 'auth_failed',
  ExpiredToken: 'auth_failed',
  RequestExpired: 'auth_failed',
  AccessDenied: 'permission_denied',
  AccessDeniedException: 'permission_denied',
  KmsAccessDenied: 'permission_denied',
  'KMS.AccessDeniedException': 'permission_denied',
  InvalidMessageContents: 'query_failed',
  InvalidParameterValue: 'query_failed',
  MissingParameter: 'query_failed',
  UnsupportedOperation: 'query_failed',
  RequestTimeout: 'timeout',
};

const statusOf = (error: unknown): number | undefined =>
  (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;

/**
 * Everything explicit, so that nothing comes from the machine Patchbay runs on: no AWS_* variable, no
 * ~/.aws file, no instance metadata. Without keys, requests go unsigned (anonymous) rather than falling back
 * to the default credential chain. One attempt per call: the harness reconnects after a failure.
 */
function clientConfig(settings: SqsConfig, agents: EgressAgents): SQS.SQSClientConfig {
  const keys =
    settings.access_key_id !== undefined && settings.secret_access_key !== undefined
      ? { accessKeyId: settings.access_key_id, secretAccessKey: settings.secret_access_key }
      : undefined;
  return {
    region: settings.region ?? regionOf(settings.queue_url),
    endpoint: settings.endpoint ?? new URL(settings.queue_url).origin,
    useQueueUrlAsEndpoint: false,
    ignoreConfiguredEndpointUrls: true,
    credentials: keys ?? { accessKeyId: 'anonymous', secretAccessKey: 'anonymous' },
    ...(keys === undefined && { signer: { sign: async (request) => request } }),
    requestHandler: { httpAgent: agents.http, httpsAgent: agents.https, connectionTimeout: settings.connect_timeout_ms },
    maxAttempts: 1,
    retryMode: 'standard',
    defaultsMode: 'standard',
    useFipsEndpoint: false,
    useDualstackEndpoint: false,
    userAgentAppId: 'patchbay',
  };
}

/** The region of an AWS queue URL (`sqs.<region>.amazonaws.com`, or the legacy `<region>.queue.amazonaws.com`). */
function regionOf(queueUrl: string): string {
  const host = new URL(queueUrl).hostname;
  return (
    /^sqs\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/.exec(host)?.[1] ??
    /^([a-z0-9-]+)\.queue\.amazonaws\.com$/.exec(host)?.[1] ??
    'us-east-1'
  );
}
