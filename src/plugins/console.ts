import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';

/** Where `npm install` (the root prepare) builds the console: packages/console/dist beside src/ and dist/. */
export const defaultConsoleDir = fileURLToPath(new URL('../../packages/console/dist/', import.meta.url));

/** The console's Content-Security-Policy, with this response's nonce. */
export const consoleCsp = (nonce: string) =>
  [
    "default-src 'self'",
    `script-src 'self' 'nonce-${nonce}'`,
    `style-src 'self' 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
    "form-action 'self'",
  ].join('; ');

function secureHeaders(reply: FastifyReply, nonce: string): FastifyReply {
  return reply
    .header('content-security-policy', consoleCsp(nonce))
    .header('referrer-policy', 'no-referrer')
    .header('x-content-type-options', 'nosniff')
    .header('x-frame-options', 'DENY');
}

/**
 * The web console under /console/, and `/` redirecting to it, but only when its build exists (API-only
 * installations and tests need none). Hashed assets are immutable; index.html is never cached and gets a fresh
 * CSP nonce on every response, written into its script and style tags.
 */
export default fp(
  async function webConsole(app: FastifyInstance, options: { dir?: string }) {
    const dir = options.dir ?? defaultConsoleDir;
    const indexPath = `${dir}/index.html`;
    if (!existsSync(indexPath)) {
      app.log.debug('web console not built: /console/ is not served');
      return;
    }
    const template = readFileSync(indexPath, 'utf8');

    await app.register(fastifyStatic, {
      root: `${dir}/assets`,
      prefix: '/console/assets/',
      decorateReply: false,
      index: false,
      wildcard: true,
      immutable: true,
      maxAge: 365 * 24 * 60 * 60 * 1000,
      setHeaders: (res) => {
        res.header('x-content-type-options', 'nosniff');
        res.header('referrer-policy', 'no-referrer');
      },
    });

    const page = async (_request: unknown, reply: FastifyReply) => {
      const nonce = randomBytes(16).toString('base64');
      const html = template.replace(/<(script|link|style)\b/g, `<$1 nonce="${nonce}"`);
      return secureHeaders(reply, nonce).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(html);
    };
    const publicRoute = { config: { access: { scope: 'public' as const } }, schema: { hide: true } };
    app.get('/', publicRoute, async (_request, reply) => reply.redirect('/console/', 302));
    app.get('/console', publicRoute, async (_request, reply) => reply.redirect('/console/', 301));
    app.get('/console/', publicRoute, page);
    // Client-side routes (the organisation and page are in the URL) all load the same page.
    app.get('/console/*', publicRoute, page);
  },
  { name: 'web-console' },
);
