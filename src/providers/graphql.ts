import { z } from 'zod';
import { httpAuthFields, httpAuthIssues, httpUrl, networkFields, networkIssues, operation } from './_shared/common-fields.js';
import type { Provider } from './types.js';

const config = z.strictObject({
  endpoint: httpUrl.describe('GraphQL endpoint URL that queries are POSTed to.'),
  ...httpAuthFields,
  ...networkFields,
});

const graphql: Provider<typeof config> = {
  id: 'graphql',
  type: 'api',
  description: 'GraphQL APIs: one query or mutation per call, with the credentials kept by Patchbay.',
  config,
  refine: (value) => [...networkIssues(value), ...httpAuthIssues(value)],
  operations: {
    request: operation(
      'Send one GraphQL document; the upstream status, headers and body come back as data.',
      z.strictObject({
        query: z.string().trim().min(1).describe('GraphQL document.'),
        variables: z.record(z.string(), z.unknown()).optional().describe('Variables of the operation.'),
        operation_name: z.string().min(1).optional().describe('Operation to run when the document holds several.'),
      }),
      // Conservative until the driver lands: the graphql driver issue parses the document with the `graphql`
      // package (not installed yet) and answers false only when every operation it selects is a `query`.
      // A keyword test would be fooled by comments, fragments and several operations in one document.
      () => true,
    ),
  },
  defaultOperation: 'request',
  classify: () => undefined,
};

export default graphql;
