/**
 * The console's only way to the API: same-origin fetch with the session cookie (HttpOnly: this code never sees
 * it), the console header every unsafe request needs (CSRF), and problem+json turned into ApiError.
 */
export interface FieldProblem {
  path: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly errors: FieldProblem[] = [],
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface RequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  body?: unknown;
  org?: string;
  headers?: Record<string, string>;
}

export interface ApiResponse<T> {
  data: T;
  etag: string | null;
}

let onUnauthenticated: (() => void) | undefined;
/** Called when a session ends under the user's feet (401): the app goes back to the sign-in page. */
export const setUnauthenticatedHandler = (handler: () => void) => {
  onUnauthenticated = handler;
};

export async function request<T>(path: string, options: RequestOptions = {}): Promise<ApiResponse<T>> {
  const headers: Record<string, string> = { accept: 'application/json', 'x-patchbay-console': '1', ...options.headers };
  if (options.org) headers['x-organization-id'] = options.org;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(`/api/v1${path}`, {
    method: options.method ?? 'GET',
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const text = await response.text();
  const parsed = text ? (JSON.parse(text) as unknown) : null;
  if (!response.ok) {
    const problem = (parsed ?? {}) as { code?: string; detail?: string; errors?: FieldProblem[] };
    if (response.status === 401 && path !== '/sessions' && path !== '/me') onUnauthenticated?.();
    throw new ApiError(response.status, problem.code ?? 'error', problem.detail ?? response.statusText, problem.errors ?? []);
  }
  return { data: parsed as T, etag: response.headers.get('etag') };
}

export const api = {
  get: <T>(path: string, org?: string) => request<T>(path, { org }).then((r) => r.data),
  post: <T>(path: string, body: unknown, org?: string) => request<T>(path, { method: 'POST', body, org }).then((r) => r.data),
  patch: <T>(path: string, body: unknown, org?: string) => request<T>(path, { method: 'PATCH', body, org }).then((r) => r.data),
  del: (path: string, org?: string) => request<null>(path, { method: 'DELETE', org }).then(() => undefined),
};

export const errorText = (error: unknown): string =>
  error instanceof ApiError ? `${error.message} (${error.code})` : error instanceof Error ? error.message : String(error);

// The API's shapes the console reads.
export type Role = 'admin' | 'developer' | 'member';
export type Status = 'healthy' | 'failing' | 'untested' | 'disabled';

export interface Me {
  user: { id: string; email: string; name: string | null };
  operator: boolean;
  organizations: { id: string; slug: string; name: string; role: Role }[];
  session: { expires_at: string } | null;
}

export interface RecentCheck {
  checked_at: string;
  success: boolean;
  latency_ms: number;
}

export interface Connector {
  id: string;
  name: string;
  description: string | null;
  connector_type: string;
  provider: string;
  config: Record<string, unknown> | null;
  status: Status;
  enabled: boolean;
  health_check_interval_s: number;
  last_tested_at: string | null;
  last_test_result: 'success' | 'failure' | null;
  last_error: string | null;
  version: number;
  recent_health?: RecentCheck[];
}

export interface Field {
  name: string;
  type: string;
  required: boolean;
  secret: boolean;
  overridable: boolean;
  default: unknown;
  description?: string;
  label: string;
  enum?: string[];
  format?: 'hostname' | 'uri' | 'pem' | 'json';
  multiline: boolean;
  group: 'Connection' | 'Authentication' | 'TLS' | 'Advanced';
  order: number;
  visible_when?: Record<string, unknown[]>;
}

export interface ProviderEntry {
  provider: string;
  description: string;
  operations: string[];
  fields: Field[];
}

export interface TestResult {
  success: boolean;
  message: string;
  latency_ms: number;
  error_code?: string;
}

export interface Attachment {
  id: string;
  connector_id: string;
  agent_id: string;
  alias: string;
  mode: 'read' | 'read_write';
  limits: Record<string, number>;
  effective_limits: { max_rows: number; timeout_ms: number; max_bytes: number; rate_per_minute: number | null };
  connector: { id: string; name: string; provider: string; status: Status; enabled: boolean };
  status: Status;
  /** False when the override no longer lies inside the connector's boundary; `reason` says why. */
  valid?: boolean;
  reason?: string | null;
}

export interface Credential {
  id: string;
  name: string | null;
  prefix: string;
  created_at: string;
  last_used_at: string | null;
  expires_at: string | null;
  revoked_at: string | null;
}

export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}
