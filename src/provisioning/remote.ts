import { PatchbayError, isErrorCode, type FieldError } from '../errors.js';
import type { ExportedFile } from './export.js';
import type { PlanResult } from './service.js';

/**
 * The CLI's `--api-key KEY --url URL` path: the provisioning endpoints of a remote Patchbay (as an admin of the
 * file's organization). The file's references are resolved here, on the client; the server compares and applies.
 */
export class RemotePatchbay {
  private readonly base: string;

  constructor(
    url: string,
    private readonly apiKey: string,
  ) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new PatchbayError('bad_request', '--url must be the server URL, e.g. https://patchbay.example.com');
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new PatchbayError('bad_request', '--url must be an http:// or https:// URL');
    this.base = parsed.toString().replace(/\/+$/, '');
  }

  plan(organization: string, file: Record<string, unknown>, prune: boolean): Promise<PlanResult> {
    return this.call<PlanResult>('POST', '/api/v1/provisioning/plan', organization, { file, prune });
  }

  apply(organization: string, file: Record<string, unknown>, prune: boolean): Promise<PlanResult> {
    return this.call<PlanResult>('POST', '/api/v1/provisioning/apply', organization, { file, prune });
  }

  export(organization: string): Promise<ExportedFile> {
    return this.call<ExportedFile>('GET', '/api/v1/provisioning/export', organization);
  }

  private async call<T>(method: string, path: string, organization: string, body?: unknown): Promise<T> {
    let response: Response;
    try {
      response = await fetch(`${this.base}${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this.apiKey}`,
          'x-organization-id': organization,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      const code = (error as { cause?: { code?: string } }).cause?.code;
      throw new PatchbayError('connection_refused', `cannot reach ${this.base}${code ? ` (${code})` : ''}`);
    }
    const payload = (await response.json().catch(() => undefined)) as Record<string, unknown> | undefined;
    if (response.ok) return payload as T;
    // The server's problem+json, kept as an error of the same code, with its field paths for the file's lines.
    const code = isErrorCode(payload?.code) ? payload.code : 'upstream_error';
    const detail = typeof payload?.detail === 'string' ? payload.detail : `${response.status} from ${this.base}`;
    throw new PatchbayError(code, detail, { errors: Array.isArray(payload?.errors) ? (payload.errors as FieldError[]) : undefined });
  }
}
