import type { Attachment, ExecuteResult, ToolDefinition, Whoami } from './api-types.js';
import { errorFromResponse, networkError, PatchbayError } from './errors.js';
import type { AliasMap, ExecuteRequest } from './requests.js';

export interface PatchbayAgentOptions {
  /** Where Patchbay listens, e.g. `https://patchbay.example.com` (without `/api/v1`). */
  baseUrl: string;
  /** The agent's token (`pbt_…`); a developer's API key works too, with `agentId`. */
  token: string;
  /** The agent's id, e.g. `agent-123`. @default learned from `GET /api/v1/whoami` on first use */
  agentId?: string;
  /** The fetch to send requests with (a proxy's, an instrumented one). @default globalThis.fetch */
  fetch?: typeof fetch;
  /**
   * How many times a call is tried again: a rate-limited call after the wait the server names (`retry_after_ms`
   * or `Retry-After`), and a read (listing attachments or tools) after a retryable failure. 0 turns retries off.
   * @default 3
   */
  maxRetries?: number;
}

/** Narrows tools and the MCP endpoint to some attachments. */
export interface AliasFilter {
  /** Only these aliases' tools; an alias the agent lacks names nothing. @default every attachment */
  aliases?: readonly string[];
}

/** The agent's tools for a model that calls tools without MCP, and the dispatcher that runs them. */
export interface Toolset {
  /** Each tool: `name` (`{alias}__{operation}`), `description`, `inputSchema` (JSON Schema), `annotations`, … */
  readonly definitions: readonly ToolDefinition[];
  /**
   * Runs a tool with the arguments a model chose: `execute(alias, {...args, operation})`. Fails like `execute`,
   * and with `not_found` for a name that is not in `definitions`.
   */
  call(name: string, args?: Record<string, unknown>): Promise<ExecuteResult>;
}

// The User-Agent names this SDK in the server's audit log (the client of a run-time call).
const USER_AGENT = 'patchbay-sdk';
// Waits between retries of a read that failed without the server naming a wait: doubling, capped.
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 4000;

/**
 * An agent's view of Patchbay: its attachments, operations through them, its tools, and its MCP endpoint.
 * Declare the provider behind each alias to type `execute`: `new PatchbayAgent<{ db: 'postgresql' }>(…)`.
 */
export class PatchbayAgent<Aliases extends AliasMap = AliasMap> {
  /** `baseUrl` without trailing slashes. */
  readonly baseUrl: string;
  // Private fields: the token never shows in console.log(agent) or JSON.stringify(agent).
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #maxRetries: number;
  #agentId: Promise<string> | undefined;

  constructor(options: PatchbayAgentOptions) {
    if (!options.baseUrl) throw new TypeError('PatchbayAgent: baseUrl is required');
    if (!options.token) throw new TypeError('PatchbayAgent: token is required');
    const maxRetries = options.maxRetries ?? 3;
    if (!Number.isInteger(maxRetries) || maxRetries < 0) throw new TypeError('PatchbayAgent: maxRetries must be an integer >= 0');
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.#maxRetries = maxRetries;
    this.#agentId = options.agentId === undefined ? undefined : Promise.resolve(options.agentId);
  }

  /** The agent's attachments: alias, connector summary, mode, effective limits, masked config. */
  async listAttachments(): Promise<Attachment[]> {
    const page = await this.#request<{ data: Attachment[] }>('GET', `${await this.#agentPath()}/connectors`);
    return page.data;
  }

  /**
   * Runs one operation through an attachment, under its mode, limits and bound parameters:
   * `execute('db', { query: 'SELECT * FROM orders WHERE id = :id', params: { id: 1 } })`. A rate-limited call is
   * retried after the wait the server names; any other failure throws a PatchbayError at once, since the call
   * may have run.
   */
  execute<Alias extends keyof Aliases & string>(alias: Alias, request: ExecuteRequest<Aliases[Alias]>): Promise<ExecuteResult> {
    return this.#execute(alias, request);
  }

  /** The agent's tools, as its MCP endpoint lists them, with a dispatcher for frameworks without MCP. */
  async tools(filter: AliasFilter = {}): Promise<Toolset> {
    const { data } = await this.#request<{ data: ToolDefinition[] }>(
      'GET',
      `${await this.#agentPath()}/tools${aliasQuery(filter)}`,
    );
    const byName = new Map(data.map((tool) => [tool.name, tool]));
    return {
      definitions: data,
      call: async (name, args = {}) => {
        const tool = byName.get(name);
        if (!tool) throw new PatchbayError('not_found', `no tool ${name}: tools are named {alias}__{operation}, see definitions`);
        return this.#execute(tool.alias, { ...args, operation: tool.operation });
      },
    };
  }

  /** The agent's MCP endpoint (Streamable HTTP), for an MCP client; send `mcpHeaders()` with every request. */
  async mcpUrl(filter: AliasFilter = {}): Promise<string> {
    return `${this.baseUrl}${await this.#agentPath()}/mcp${aliasQuery(filter)}`;
  }

  /** The headers an MCP client sends to `mcpUrl()`: the token as a bearer credential. */
  mcpHeaders(): { Authorization: string } {
    return { Authorization: `Bearer ${this.#token}` };
  }

  async #execute(alias: string, body: object): Promise<ExecuteResult> {
    return this.#request<ExecuteResult>(
      'POST',
      `${await this.#agentPath()}/connectors/${encodeURIComponent(alias)}/execute`,
      body,
    );
  }

  /** `/api/v1/agents/{id}`; the id is asked of whoami once, and asked again only if that failed. */
  #agentPath(): Promise<string> {
    this.#agentId ??= this.#whoami();
    return this.#agentId.then((id) => `/api/v1/agents/${encodeURIComponent(id)}`);
  }

  async #whoami(): Promise<string> {
    try {
      const whoami = await this.#request<Whoami>('GET', '/api/v1/whoami');
      if (whoami.type !== 'agent') {
        throw new PatchbayError('bad_request', 'this credential is a user API key, not an agent token: pass agentId too');
      }
      return whoami.agent_id;
    } catch (error) {
      this.#agentId = undefined;
      throw error;
    }
  }

  /** One API call, tried again while `retryDelayMs` allows and `maxRetries` is not spent; JSON in and out. */
  async #request<T>(method: 'GET' | 'POST', path: string, body?: object): Promise<T> {
    const url = `${this.baseUrl}${path}`;
    const headers: Record<string, string> = { ...this.mcpHeaders(), accept: 'application/json', 'user-agent': USER_AGENT };
    if (body !== undefined) headers['content-type'] = 'application/json';
    const init = { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
    for (let attempt = 0; ; attempt += 1) {
      const response = await this.#fetch(url, init).catch((cause: unknown) => networkError(cause, url));
      if (!(response instanceof PatchbayError) && response.ok) return readJson<T>(response, url);
      const error = response instanceof PatchbayError ? response : await errorFromResponse(response, url);
      const waitMs = attempt < this.#maxRetries ? retryDelayMs(error, method, attempt) : undefined;
      if (waitMs === undefined) throw error;
      await sleep(waitMs);
    }
  }
}

/**
 * How long to wait before trying again, or undefined not to. A rate-limited call did not run, so any call is
 * tried again after the wait the server names. Other retryable failures are tried again for reads (GET) only:
 * an operation may have run before its answer was lost, and running it twice may write twice.
 */
function retryDelayMs(error: PatchbayError, method: 'GET' | 'POST', attempt: number): number | undefined {
  const backoffMs = Math.min(BACKOFF_FIRST_MS * 2 ** attempt, BACKOFF_MAX_MS);
  if (error.code === 'rate_limited') return error.retryAfterMs ?? backoffMs;
  return method === 'GET' && error.retryable ? backoffMs : undefined;
}

async function readJson<T>(response: Response, url: string): Promise<T> {
  try {
    return (await response.json()) as T;
  } catch (cause) {
    throw new PatchbayError('upstream_error', `HTTP ${response.status} from ${url} is not JSON`, {
      status: response.status,
      retryable: false,
      cause,
    });
  }
}

const aliasQuery = (filter: AliasFilter): string =>
  filter.aliases === undefined ? '' : `?aliases=${encodeURIComponent(filter.aliases.join(','))}`;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
