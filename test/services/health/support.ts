import type { TestContext } from 'node:test';
import type { Logger } from 'pino';
import type { Environment } from '../../../src/config.js';
import { createServices } from '../../../src/services/index.js';
import { build } from '../../support/app.js';
import type { Dialect } from '../../support/db.js';
import { manualClock } from '../../support/webhooks.js';

/**
 * A test app plus a second set of services on the same database whose clock the test moves: its scheduler is
 * driven with runDueChecks() and its webhooks with dispatchDue(), so nothing waits on real time. `follow` makes
 * the clock the real time plus what the test advanced (see manualClock).
 */
export async function healthSetup(t: TestContext, options: { dialect?: Dialect; env?: Environment; follow?: boolean } = {}) {
  const ctx = await build(t, options);
  if (!ctx) return undefined;
  const clock = manualClock({ follow: options.follow });
  const services = createServices({
    config: ctx.config,
    sequelize: ctx.app.db.sequelize,
    models: ctx.models,
    keyRing: ctx.keyRing,
    log: ctx.app.log as Logger,
    clock: clock.now,
  });
  t.after(async () => {
    await services.scheduler.stop();
    await services.harness.close();
  });
  const admin = await ctx.user('admin');
  const context = { organizationId: admin.orgId, actor: { type: 'user' as const, id: admin.userId } };
  return { ctx, clock, services, admin, context };
}

/** A postgresql connector config that reaches `port` on 127.0.0.1. */
export const pgAt = (port: number, extra: Record<string, unknown> = {}) => ({
  host: '127.0.0.1',
  port,
  database: 'test',
  username: 'postgres',
  ...extra,
});
