import { z } from 'zod';
import {
  httpAuthFields,
  httpAuthIssues,
  httpHeaders,
  httpUrl,
  networkFields,
  networkIssues,
  operation,
} from './_shared/common-fields.js';
import type { Provider } from './types.js';

const config = z.strictObject({
  base_url: httpUrl.describe('Base URL every request path is resolved against; requests stay on its origin.'),
  ...httpAuthFields,
  health_path: z
    .string()
    .startsWith('/', { message: 'must start with /' })
    .default('/')
    .describe('Path on base_url that the connection test requests with GET, with the configured auth.'),
  ...networkFields,
});

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;
const queryValue = z.union([z.string(), z.number(), z.boolean()]);

const rest: Provider<typeof config> = {
  id: 'rest',
  type: 'api',
  description: 'HTTP APIs under one base URL, with the credentials kept by Patchbay.',
  config,
  refine: (value) => [...networkIssues(value), ...httpAuthIssues(value)],
  operations: {
    request: operation(
      'Send one HTTP request; the upstream status, headers and body come back as data.',
      z.strictObject({
        method: z.enum(METHODS).default('GET').describe('HTTP method.'),
        path: z
          .string()
          .refine((value) => !/^[a-z][a-z0-9+.-]*:|^[\\/]{2}/i.test(value), {
            message: 'must be a path on base_url, not a URL',
          })
          .describe('Path (and optional ?query) resolved against base_url.'),
        query: z
          .record(z.string(), z.union([queryValue, z.array(queryValue)]))
          .optional()
          .describe('Query parameters; an array repeats the parameter.'),
        headers: httpHeaders.optional().describe('Request headers, added to the connector headers.'),
        body: z.unknown().optional().describe('A string is sent as it is; anything else as JSON.'),
      }),
      (input) => input.method !== 'GET' && input.method !== 'HEAD',
    ),
  },
  defaultOperation: 'request',
  classify: () => undefined,
};

export default rest;
