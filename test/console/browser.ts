import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { defaultConsoleDir } from '../../src/plugins/console.js';
import { bearer, build, type TestApp } from '../support/app.js';

/**
 * The web console in Debian's Chromium, driven by playwright-core (which never downloads a browser). Each test gets
 * a server on a fresh SQLite database, listening on loopback, and a browser with a fresh profile. A Guard fails
 * the test on a page error, a console error, a CSP violation or a 5xx, and checks that no sentinel secret
 * reached the page in any form.
 */

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const ARTIFACTS = path.resolve('test-artifacts/console');

/** Skips (outside CI) when the console is not built or Chromium is missing; under CI=true that is a failure. */
export function requireBrowser(t: TestContext): boolean {
  const missing = !existsSync(path.join(defaultConsoleDir, 'index.html'))
    ? 'the console is not built (npm run build:console)'
    : !existsSync(CHROMIUM)
      ? `${CHROMIUM} is missing (apt-get install chromium)`
      : null;
  if (!missing) return true;
  if (process.env.CI === 'true') throw new Error(missing);
  t.skip(missing);
  return false;
}

export interface ConsoleServer {
  ctx: TestApp;
  origin: string;
  admin: { key: string; userId: string; orgId: string; orgSlug: string };
  /** The REST API as the admin (or another key): seeding goes through it, never through the UI. */
  rest(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown, key?: string): Promise<{ status: number; json: () => unknown; body: string }>;
}

export async function startServer(t: TestContext): Promise<ConsoleServer | undefined> {
  const ctx = await build(t, { env: { PATCHBAY_RATE_LIMIT_PER_KEY: '100000' } });
  if (!ctx) return undefined;
  const address = await ctx.app.listen({ host: '127.0.0.1', port: 0 });
  const admin = await ctx.user('admin', { operator: true });
  return {
    ctx,
    origin: address,
    admin,
    async rest(method, url, body, key = admin.key) {
      const response = await ctx.app.inject({ method, url: `/api/v1${url}`, headers: { ...bearer(key), 'x-organization-id': admin.orgSlug }, payload: body as never });
      return { status: response.statusCode, body: response.body, json: () => response.json() };
    },
  };
}

export const sentinel = () => `SENTINEL-${Math.random().toString(36).slice(2)}-${Date.now().toString(36)}`;

export class Guard {
  readonly problems: string[] = [];
  readonly bodies: string[] = [];
  /** Statuses the test provokes on purpose (a 422, a 409); anything else 4xx is still logged but not a failure. */
  constructor(
    readonly page: Page,
    readonly secrets: string[],
  ) {
    page.on('pageerror', (error) => this.problems.push(`page error: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      // Chromium logs every 4xx fetch as an error; the expected ones are the API answering, not the page failing.
      if (/Failed to load resource: the server responded with a status of 4\d\d/.test(message.text())) return;
      this.problems.push(`console error: ${message.text()}`);
    });
    page.on('response', async (response) => {
      if (response.status() >= 500) this.problems.push(`${response.status()} from ${response.url()}`);
      const type = response.headers()['content-type'] ?? '';
      if (/json|html|javascript|css/.test(type)) {
        try {
          this.bodies.push(await response.text());
        } catch {
          // A redirect or an aborted navigation has no body.
        }
      }
    });
  }

  /** Everything a secret could hide in on the page: DOM, input values, storage, readable cookies, responses. */
  async assertNoSecrets(): Promise<void> {
    const seen = await this.page.evaluate(() => {
      const inputs = [...document.querySelectorAll('input, textarea, select')].map((el) => (el as HTMLInputElement).value);
      const storage = [JSON.stringify({ ...localStorage }), JSON.stringify({ ...sessionStorage })];
      return [document.documentElement.outerHTML, ...inputs, ...storage, document.cookie].join('\n');
    });
    for (const secret of this.secrets) {
      assert.ok(!seen.includes(secret), 'a secret reached the page (DOM, an input, storage or a cookie)');
      assert.ok(!this.bodies.some((body) => body.includes(secret)), 'a secret reached a response the page received');
    }
  }

  async assertClean(): Promise<void> {
    const violations = await this.page.evaluate(() => (window as unknown as { __csp?: string[] }).__csp ?? []);
    assert.deepEqual([...this.problems, ...violations.map((v) => `CSP violation: ${v}`)], []);
    await this.assertNoSecrets();
  }

  /** axe: zero WCAG 2.2 AA violations on the page as it is now. */
  async assertAccessible(label: string): Promise<void> {
    const result = await new AxeBuilder({ page: this.page }).withTags(['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']).analyze();
    assert.deepEqual(
      result.violations.map((v) => `${label}: ${v.id} (${v.nodes.map((n) => n.target.join(' ')).join(', ')})`),
      [],
    );
  }
}

export interface Session {
  context: BrowserContext;
  page: Page;
  guard: Guard;
}

/** A fresh Chromium profile and page; closed (with a screenshot on failure) after the test. */
export async function openBrowser(t: TestContext, secrets: string[] = []): Promise<Session> {
  const profile = await mkdtemp(path.join(tmpdir(), 'patchbay-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
    locale: 'en-GB',
    timezoneId: 'UTC',
  });
  // Report CSP violations the page meets, from before any of its scripts run.
  await context.addInitScript(() => {
    const list: string[] = [];
    (window as unknown as { __csp: string[] }).__csp = list;
    document.addEventListener('securitypolicyviolation', (event) => list.push(`${event.violatedDirective} ${event.blockedURI}`));
  });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(10_000);
  const guard = new Guard(page, secrets);
  t.after(async () => {
    if (!(t as TestContext & { passed?: boolean }).passed) {
      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: path.join(ARTIFACTS, `${t.name.replace(/[^a-z0-9]+/gi, '-')}.png`), fullPage: true }).catch(() => undefined);
    }
    await context.close();
    await rm(profile, { recursive: true, force: true });
  });
  return { context, page, guard };
}

/** Signs in through the login page. */
export async function signIn(page: Page, origin: string, key: string): Promise<void> {
  await page.goto(`${origin}/console/`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Connectors' }).waitFor();
}
