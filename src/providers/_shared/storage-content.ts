import { PatchbayError } from '../../errors.js';

/**
 * Object bodies as JSON can carry them (DESIGN.md section 6): `get` answers text, JSON or base64 with the
 * object's content_type, read up to max_bytes; `put` takes utf8 or base64.
 */

export type BodyEncoding = 'utf8' | 'json' | 'base64';

/**
 * Reads at most `maxBytes` + 1 bytes of a body and stops: the extra byte only says there was more. Leaving
 * the loop early destroys the stream, and with it the connection, so the rest is never downloaded.
 */
export async function readCapped(
  body: AsyncIterable<Uint8Array>,
  maxBytes: number,
): Promise<{ bytes: Buffer; truncated: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    chunks.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    size += chunk.byteLength;
    if (size > maxBytes) break;
  }
  const bytes = Buffer.concat(chunks, size);
  return size > maxBytes ? { bytes: bytes.subarray(0, maxBytes), truncated: true } : { bytes, truncated: false };
}

/**
 * The body as the content type says: JSON (parsed) for a JSON type, text for a textual type that is valid
 * UTF-8, base64 for everything else. A JSON body cut by max_bytes no longer parses and comes back as text.
 */
export function shapeBody(
  bytes: Buffer,
  contentType: string | undefined,
  truncated: boolean,
): { encoding: BodyEncoding; body: unknown } {
  const type = mediaType(contentType);
  if (isJsonType(type) && !truncated) {
    const text = decodeUtf8(bytes, false);
    if (text !== undefined) {
      try {
        return { encoding: 'json', body: JSON.parse(text) as unknown };
      } catch {
        // not JSON after all: text below
      }
    }
  }
  if (isJsonType(type) || isTextType(type)) {
    const text = decodeUtf8(bytes, truncated);
    if (text !== undefined) return { encoding: 'utf8', body: text };
  }
  return { encoding: 'base64', body: bytes.toString('base64') };
}

/** The bytes of a put body; base64 is checked strictly, as Buffer.from would silently skip what is not base64. */
export function decodeBody(body: string, encoding: 'utf8' | 'base64'): Buffer {
  if (encoding === 'utf8') return Buffer.from(body, 'utf8');
  const compact = body.replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new PatchbayError('validation_failed', 'body is not valid base64', {
      errors: [{ path: 'body', message: 'must be base64 (A-Z, a-z, 0-9, +, /, = padding) when encoding is base64' }],
    });
  }
  return Buffer.from(compact, 'base64');
}

/** What a put stores when the request names no content type. */
export const defaultContentType = (encoding: 'utf8' | 'base64'): string =>
  encoding === 'utf8' ? 'text/plain; charset=utf-8' : 'application/octet-stream';

const mediaType = (contentType: string | undefined): string => (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';

const isJsonType = (type: string): boolean => type === 'application/json' || type === 'text/json' || type.endsWith('+json');

const TEXT_TYPES = new Set([
  'application/xml',
  'application/javascript',
  'application/ecmascript',
  'application/x-javascript',
  'application/yaml',
  'application/x-yaml',
  'application/toml',
  'application/csv',
  'application/sql',
  'application/graphql',
  'application/x-ndjson',
  'application/x-sh',
  'application/x-www-form-urlencoded',
]);

const isTextType = (type: string): boolean =>
  type.startsWith('text/') || TEXT_TYPES.has(type) || type.endsWith('+xml') || type.endsWith('+yaml');

const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/**
 * Strict UTF-8, or undefined when the bytes are not text. A body cut by max_bytes may end inside a
 * character: up to three trailing bytes are dropped to find the last whole one.
 */
function decodeUtf8(bytes: Buffer, cut: boolean): string | undefined {
  for (let drop = 0; drop <= (cut ? Math.min(3, bytes.length) : 0); drop += 1) {
    try {
      return strictUtf8.decode(bytes.subarray(0, bytes.length - drop));
    } catch {
      // try one byte shorter
    }
  }
  return undefined;
}
