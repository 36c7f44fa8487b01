import type { DocumentNode } from 'graphql';
import type * as GraphqlLanguage from 'graphql/language/index.js';
import { createRequire } from 'node:module';
import { z } from 'zod';
import { PatchbayError } from '../errors.js';
import type { HttpResponse } from '../net/http-client.js';
import { httpAuthFields, httpAuthIssues, httpUrl, networkFields, networkIssues, operation } from './_shared/common-fields.js';
import {
  answerAsData,
  answerDetail,
  CHECK_MAX_BYTES,
  checkAnswer,
  classifyHttp,
  DEFAULT_HEADERS,
  httpAnswerSchema,
  isWithin,
  openedSession,
  openHttpApi,
  type HttpApi,
} from './_shared/http-api.js';
import { destination, type CallContext, type OperationResult, type Provider, type Session } from './types.js';

const config = z.strictObject({
  endpoint: destination(httpUrl.describe('GraphQL endpoint URL that queries are POSTed to.')),
  ...httpAuthFields,
  ...networkFields,
});

type GraphqlConfig = z.output<typeof config>;

const requestInput = z
  .strictObject({
    query: z.string().trim().min(1).describe('GraphQL document.'),
    variables: z.record(z.string(), z.unknown()).optional().describe('Variables of the operation.'),
    operation_name: z.string().min(1).optional().describe('Operation to run when the document holds several.'),
  })
  // Parsed here, so that a document that does not parse, or names no runnable operation, is refused
  // (validation_failed) before read mode looks at it or anything is sent.
  .superRefine((input, ctx) => {
    const problem = documentProblem(input.query, input.operation_name);
    if (problem) ctx.addIssue({ code: 'custom', path: [problem.path], message: problem.message });
  });

type RequestInput = z.output<typeof requestInput>;

const graphql: Provider<typeof config> = {
  id: 'graphql',
  type: 'api',
  description: 'GraphQL APIs: one query or mutation per call, with the credentials kept by Patchbay.',
  config,
  refine: (value) => [...networkIssues(value), ...httpAuthIssues(value)],
  operations: {
    request: operation(
      'Send one GraphQL document; the upstream status, headers and body come back as data.',
      requestInput,
      (input) => writesAnything(parseDocument(input.query)),
      // Every document goes as a POST.
      { summarize: () => ({ statement_class: 'post' }), output: httpAnswerSchema },
    ),
  },
  defaultOperation: 'request',

  connect: (settings, ctx) => openedSession(new GraphqlSession(openHttpApi(settings, ctx), settings), ctx.signal),

  classify: classifyHttp,
};

export default graphql;

// The parser alone, loaded on first use: writes() and the input check are synchronous, so `await import()`
// cannot serve them, and importing this module must stay cheap (graphql's package is CommonJS either way).
const requireModule = createRequire(import.meta.url);
let language: typeof GraphqlLanguage | undefined;
const graphqlLanguage = () => (language ??= requireModule('graphql/language/index.js') as typeof GraphqlLanguage);

/** A bound on the parser's work, so that a huge document is refused rather than parsed at length. */
const MAX_TOKENS = 50_000;

function parseDocument(query: string): DocumentNode {
  return graphqlLanguage().parse(query, { noLocation: true, maxTokens: MAX_TOKENS });
}

/** What is wrong with a document, if anything: it does not parse, or operation_name selects no operation. */
function documentProblem(query: string, operationName: string | undefined): { path: string; message: string } | undefined {
  let document: DocumentNode;
  try {
    document = parseDocument(query);
  } catch (error) {
    return { path: 'query', message: error instanceof Error ? error.message : 'does not parse' };
  }
  const names = document.definitions.flatMap((definition) =>
    definition.kind === 'OperationDefinition' ? [definition.name?.value] : [],
  );
  if (names.length === 0) return { path: 'query', message: 'holds no operation' };
  if (operationName !== undefined && !names.includes(operationName)) {
    return { path: 'operation_name', message: 'names no operation of the document' };
  }
  if (operationName === undefined && names.length > 1) {
    return { path: 'operation_name', message: 'required: the document holds several operations' };
  }
  return undefined;
}

// Conventional names of the mutation and subscription root types (Mutation, mutation_root, RootMutationType).
const WRITING_TYPE = /mutation|subscription/i;

/**
 * Whether a document may write. Stricter than "the selected operation is a mutation": any mutation or
 * subscription in the document counts (a server that ignores operationName runs the first one), and so does
 * a fragment on a mutation or subscription type, wherever it is spread.
 */
function writesAnything(document: DocumentNode): boolean {
  let writes = false;
  graphqlLanguage().visit(document, {
    OperationDefinition(node) {
      if (node.operation !== 'query') writes = true;
    },
    FragmentDefinition(node) {
      if (WRITING_TYPE.test(node.typeCondition.name.value)) writes = true;
    },
    InlineFragment(node) {
      if (node.typeCondition && WRITING_TYPE.test(node.typeCondition.name.value)) writes = true;
    },
  });
  return writes;
}

class GraphqlSession implements Session {
  private readonly endpoint: URL;
  /** The check made when the session opened, which the first ping reports instead of asking again. */
  private opened?: HttpResponse;

  constructor(
    private readonly api: HttpApi,
    settings: GraphqlConfig,
  ) {
    this.endpoint = new URL(settings.endpoint);
  }

  /** Asks `{ __typename }` once: credentials the upstream refuses fail the session's opening (auth_failed). */
  async open(signal: AbortSignal): Promise<void> {
    this.opened = await this.post({ query: '{ __typename }' }, signal, CHECK_MAX_BYTES);
    checkAnswer(this.opened, 'the endpoint', false);
  }

  async ping(signal: AbortSignal): Promise<string> {
    const answer = this.opened ?? (await this.post({ query: '{ __typename }' }, signal, CHECK_MAX_BYTES));
    this.opened = undefined;
    checkAnswer(answer, 'the endpoint', true);
    const typename = rootTypename(answer);
    if (typename === undefined) {
      throw new PatchbayError('upstream_error', `the endpoint answered ${answerDetail(answer)}, but not with GraphQL data`);
    }
    return `GraphQL ${typename} type, ${answerDetail(answer)}`;
  }

  async execute(_operation: string, input: unknown, call: CallContext): Promise<OperationResult> {
    const { query, variables, operation_name: operationName } = input as RequestInput;
    const answer = await this.post({ query, variables, operationName }, call.signal, call.limits.maxBytes, call.limits.timeoutMs);
    return answerAsData(answer, this.api.auth.derivedSecrets());
  }

  async close(): Promise<void> {
    this.api.close();
  }

  private post(body: Record<string, unknown>, signal: AbortSignal, maxBytes: number, timeoutMs?: number): Promise<HttpResponse> {
    return this.api.auth.send(
      {
        method: 'POST',
        url: this.endpoint,
        headers: {
          ...DEFAULT_HEADERS,
          'content-type': 'application/json',
          // The GraphQL over HTTP media type first: with it, a failed request keeps its 4xx status.
          accept: 'application/graphql-response+json, application/json;q=0.9',
        },
        body: JSON.stringify(body),
      },
      { signal, maxBytes, timeoutMs, follow: (target) => isWithin(this.endpoint, target) },
    );
  }
}

/** `data.__typename` of an answer to `{ __typename }`, when it is GraphQL. */
function rootTypename(answer: HttpResponse): string | undefined {
  try {
    const parsed = JSON.parse(answer.body.toString('utf8')) as { data?: { __typename?: unknown } };
    return typeof parsed.data?.__typename === 'string' ? parsed.data.__typename.slice(0, 60) : undefined;
  } catch {
    return undefined;
  }
}
