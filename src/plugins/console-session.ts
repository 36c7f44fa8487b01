import type { FastifyReply, FastifyRequest } from 'fastify';
import { PatchbayError } from '../errors.js';

/**
 * The web console's session cookie and its CSRF rule. The cookie is HttpOnly, SameSite=Strict and Path=/, and
 * carries Secure with the `__Host-` prefix over TLS or on a loopback host (browsers accept Secure cookies from
 * http://localhost and http://127.0.0.1). A cookie-authenticated unsafe request must carry CONSOLE_HEADER (a
 * cross-site form cannot set it, and a cross-site fetch that sets it needs a CORS preflight we never grant) and
 * an Origin equal to our own.
 */
export const SECURE_COOKIE = '__Host-patchbay_session';
export const PLAIN_COOKIE = 'patchbay_session';
export const CONSOLE_HEADER = 'x-patchbay-console';

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Over TLS or on loopback: the cookie can be Secure and `__Host-` prefixed. */
export const secureContext = (request: FastifyRequest): boolean => request.protocol === 'https' || isLoopback(request.hostname);

export const cookieName = (request: FastifyRequest): string => (secureContext(request) ? SECURE_COOKIE : PLAIN_COOKIE);

/** The session cookie's value, if the request carries one. */
export function readSessionCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (!header) return undefined;
  const cookies = new Map<string, string>();
  for (const part of header.split(';')) {
    const index = part.indexOf('=');
    if (index > 0) cookies.set(part.slice(0, index).trim(), part.slice(index + 1).trim());
  }
  return cookies.get(SECURE_COOKIE) ?? cookies.get(PLAIN_COOKIE);
}

function serialize(request: FastifyRequest, value: string, maxAgeS: number): string {
  const attributes = [`${cookieName(request)}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict', `Max-Age=${maxAgeS}`];
  if (secureContext(request)) attributes.push('Secure');
  return attributes.join('; ');
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, token: string, expiresAt: Date): void {
  reply.header('set-cookie', serialize(request, token, Math.max(0, Math.floor((expiresAt.getTime() - Date.now()) / 1000))));
  reply.header('cache-control', 'no-store');
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('set-cookie', serialize(request, '', 0));
}

/** This server's own origin, as a browser would send it in `Origin`. */
export const ownOrigin = (request: FastifyRequest): string => `${request.protocol}://${request.host}`;

/** A request's Origin, when it has one, must be our own (login and logout check it even without a session). */
export function assertSameOrigin(request: FastifyRequest): void {
  const origin = request.headers.origin;
  if (origin !== undefined && origin !== ownOrigin(request)) {
    throw new PatchbayError('forbidden', 'cross-origin request refused');
  }
}

/** The CSRF rule for a cookie-authenticated request: unsafe methods need the console header and our Origin. */
export function assertConsoleRequest(request: FastifyRequest): void {
  if (SAFE_METHODS.has(request.method)) return;
  if (request.headers[CONSOLE_HEADER] !== '1') {
    throw new PatchbayError('forbidden', `a console session's changes need the ${CONSOLE_HEADER}: 1 header`);
  }
  if (request.headers.origin !== ownOrigin(request)) throw new PatchbayError('forbidden', 'cross-origin request refused');
}
