import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { unavailableError, unavailableReason } from '../db/unavailable.js';
import { MAX_PARAM_LENGTH } from '../schemas/strings.js';
import { errorCodes, PatchbayError, publicDetail, validationError, type ErrorCode, type FieldError } from '../errors.js';

interface ValidationIssue {
  instancePath?: string;
  message?: string;
  keyword?: string;
  params?: { keys?: string[]; issue?: { path?: (string | number)[]; message?: string } };
}

/** '/config/port' → 'config.port'; a query or params issue gets no prefix, as clients name them bare. */
const toPath = (issue: ValidationIssue): string => {
  const segments = issue.params?.issue?.path ?? (issue.instancePath ?? '').split('/').filter(Boolean);
  return segments.length ? segments.join('.') : '(root)';
};

export function fieldErrorsOf(validation: ValidationIssue[]): FieldError[] {
  return validation.flatMap((issue) => {
    // A strict object names its unknown keys in one issue at the object's own path: report each key at its path.
    if (issue.keyword === 'unrecognized_keys' && issue.params?.keys?.length) {
      const parent = toPath(issue);
      return issue.params.keys.map((key) => ({ path: parent === '(root)' ? key : `${parent}.${key}`, message: 'unknown field' }));
    }
    return [{ path: toPath(issue), message: issue.params?.issue?.message ?? issue.message ?? 'invalid' }];
  });
}

/** The code for a status Fastify (or a plugin of it) chose itself; any other 4xx is a malformed request. */
const byStatus: Partial<Record<number, ErrorCode>> = {
  401: 'unauthenticated',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  409: 'conflict',
  413: 'payload_too_large',
  429: 'rate_limited',
};

/**
 * Fastify's own failures, translated into our vocabulary. Their messages are never passed on: a JSON parser's
 * message quotes the body, a router's the URL.
 */
function fromFastify(error: FastifyError): PatchbayError | undefined {
  if (error.validation) {
    const errors = fieldErrorsOf(error.validation as ValidationIssue[]);
    return validationError(errors);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new PatchbayError('payload_too_large', 'request body is larger than the limit');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
    case 'FST_ERR_CTP_INVALID_TYPE':
      return new PatchbayError('bad_request', 'unsupported content type: send application/json');
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new PatchbayError('bad_request', 'the JSON body is empty');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return new PatchbayError('bad_request', 'the body is not valid JSON');
    case 'FST_ERR_BAD_URL':
      return new PatchbayError('bad_request', 'the URL is malformed (an invalid percent-encoding)');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return new PatchbayError('bad_request', `a path parameter is longer than ${MAX_PARAM_LENGTH} characters`);
    default:
      break;
  }
  if (error instanceof SyntaxError || (error.statusCode === 400 && /JSON/i.test(error.message))) {
    return new PatchbayError('bad_request', 'the body is not valid JSON');
  }
  if (error.statusCode === 415) return new PatchbayError('bad_request', 'unsupported content type: send application/json');
  const status = error.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    return new PatchbayError(codeForStatus(status), status === 400 ? 'the request is malformed' : undefined);
  }
  return undefined;
}

/** The code of a 4xx that a library chose (the router, the MCP transport): its own where we have one, else bad_request. */
export const codeForStatus = (status: number): ErrorCode => byStatus[status] ?? 'bad_request';

export function toProblem(error: PatchbayError, request: FastifyRequest) {
  const code: ErrorCode = error.code;
  return {
    type: `urn:patchbay:error:${code}`,
    title: errorCodes[code].title,
    status: error.status,
    code,
    // A 500 carries only its request id: the detail is in the log, never in the response.
    detail: publicDetail(error, request.id),
    instance: request.url.split('?')[0],
    request_id: request.id,
    ...(error.errors ? { errors: error.errors } : {}),
    ...(error.extra ?? {}),
  };
}

export function sendProblem(reply: FastifyReply, request: FastifyRequest, error: PatchbayError) {
  if (error.headers) reply.headers(error.headers);
  return reply.code(error.status).type('application/problem+json').send(toProblem(error, request));
}

function handleError(raw: FastifyError, request: FastifyRequest, reply: FastifyReply) {
  const error =
    raw instanceof PatchbayError
      ? raw
      : (fromFastify(raw) ?? unavailableError(raw) ?? new PatchbayError('internal_error', undefined, { cause: raw }));
  if (error.code === 'internal_error') request.log.error({ err: raw }, 'unhandled error');
  else if (error.code === 'unavailable') request.log.warn({ code: error.code, reason: unavailableReason(error) }, 'database unavailable');
  else request.log.info({ code: error.code }, 'request refused');
  return sendProblem(reply, request, error);
}

/**
 * Fastify's `frameworkErrors` option: what the router refuses before any route or hook runs (a malformed
 * percent-encoding, a path parameter above `maxParamLength`) answers through the same handler.
 */
export const frameworkErrors = (error: FastifyError, request: FastifyRequest, reply: FastifyReply) => handleError(error, request, reply);

/** The one place an error becomes a response: RFC 9457 problem+json with a stable `code`. */
export default fp(
  async function errorHandler(app: FastifyInstance) {
    app.setErrorHandler(handleError);
    app.setNotFoundHandler((request, reply) =>
      sendProblem(reply, request, new PatchbayError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`)),
    );
  },
  { name: 'error-handler' },
);
