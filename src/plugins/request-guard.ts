import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { PatchbayError, validationError, type FieldError } from '../errors.js';
import { CONTROL_MESSAGE, hasControlCharacters } from '../schemas/strings.js';

/**
 * How deep any JSON body may nest (objects and arrays, the outermost counting as 1). Generous for a connector
 * config, a query's parameters, a MongoDB filter or an MCP message, and far below what would overflow a recursive
 * reader further on (JSON.stringify in the audit writer and the serializer, validators, drivers).
 */
export const MAX_JSON_DEPTH = 64;

/**
 * The deepest nesting of a parsed JSON value, walked with an explicit stack (never recursion), stopping as soon as
 * `limit` is passed. Its work is linear in the size of the value, which the body limit bounds.
 */
export function jsonDepthExceeds(value: unknown, limit: number): boolean {
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length > 0) {
    const [node, depth] = stack.pop() as [unknown, number];
    if (node === null || typeof node !== 'object') continue;
    if (depth > limit) return true;
    for (const child of Array.isArray(node) ? node : Object.values(node)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return false;
}

/** Every path parameter, then every query value, that holds a control character, named as clients name them. */
function controlCharacterErrors(values: unknown): FieldError[] {
  if (values === null || typeof values !== 'object') return [];
  return Object.entries(values).flatMap(([name, value]) => {
    const strings = Array.isArray(value) ? value : [value];
    return strings.some((item) => typeof item === 'string' && hasControlCharacters(item)) ? [{ path: name, message: CONTROL_MESSAGE }] : [];
  });
}

/**
 * Input checks every route shares, so that no id, name or nesting depth reaches a service, a query or the audit
 * writer unchecked:
 * - JSON bodies are parsed by Fastify's own parser (prototype poisoning refused) and then refused with 400
 *   `bad_request` when nested deeper than MAX_JSON_DEPTH;
 * - path parameters and query values with control characters (NUL, C0, DEL, C1, a lone surrogate) are refused
 *   with 422 `validation_failed` naming them: path parameters after authorisation and before the resource is
 *   looked up (an id cut at a NUL must never reach SQL), query values right after it.
 */
export default fp(
  async function requestGuard(app: FastifyInstance) {
    const parseJson = app.getDefaultJsonParser(app.initialConfig.onProtoPoisoning ?? 'error', app.initialConfig.onConstructorPoisoning ?? 'error');
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
      parseJson(request, body as string, (error: Error | null, value?: unknown) => {
        if (error) return done(error, undefined);
        if (jsonDepthExceeds(value, MAX_JSON_DEPTH)) {
          return done(new PatchbayError('bad_request', `the JSON body is nested deeper than ${MAX_JSON_DEPTH} levels`), undefined);
        }
        return done(null, value);
      });
    });

    // The auth plugin runs a route's `resource` check right after authorisation: the path parameters are checked
    // just before it, the query just after it (DESIGN.md section 5: 404 for a missing resource before 422).
    app.addHook('onRoute', (route) => {
      const resource = route.config?.resource;
      route.config = {
        ...route.config,
        resource: async (request: FastifyRequest) => {
          const badParams = controlCharacterErrors(request.params);
          if (badParams.length) throw validationError(badParams);
          if (resource) await resource(request);
          const badQuery = controlCharacterErrors(request.query);
          if (badQuery.length) throw validationError(badQuery);
        },
      };
    });
  },
  { name: 'request-guard', dependencies: ['error-handler'] },
);
