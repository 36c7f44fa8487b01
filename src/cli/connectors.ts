import type { Command } from 'commander';
import { Op } from 'sequelize';
import type { Connector } from '../db/models/index.js';
import type { Services } from '../services/index.js';
import { loadKeyRing, servicesFor, withContext, type CliContext } from './context.js';

/** Every connector (of one organisation, with --org), oldest first, a page at a time. */
async function* connectorsOf(context: CliContext, organizationId?: string): AsyncGenerator<Connector> {
  let after: Connector | undefined;
  for (;;) {
    const where: Record<string | symbol, unknown> = organizationId ? { organization_id: organizationId } : {};
    if (after) where[Op.or] = [{ created_at: { [Op.gt]: after.created_at } }, { created_at: after.created_at, id: { [Op.gt]: after.id } }];
    const page = await context.models.Connector.findAll({
      where,
      order: [
        ['created_at', 'ASC'],
        ['id', 'ASC'],
      ],
      limit: 500,
    });
    yield* page;
    if (page.length < 500) return;
    after = page.at(-1);
  }
}

async function organizationIdOf(services: Services, org: string | undefined): Promise<string | undefined> {
  return org === undefined ? undefined : (await services.accounts.requireOrganization(org)).id;
}

export function register(program: Command): void {
  const connectors = program.command('connectors').description('list and test connectors');
  connectors
    .command('list')
    .description('one line per connector: id, organization, name, provider, status, last test')
    .option('--org <slug>', 'only this organization (slug or id)')
    .action((options: { org?: string }) =>
      withContext(async (context) => {
        const slugs = new Map((await context.models.Organization.findAll()).map((org) => [org.id, org.slug]));
        for await (const c of connectorsOf(context, await organizationIdOf(servicesFor(context), options.org))) {
          console.log([c.id, slugs.get(c.organization_id) ?? c.organization_id, c.name, c.provider, c.status, c.last_tested_at?.toISOString() ?? 'never'].join('\t'));
        }
      }),
    );
  connectors
    .command('test [ids...]')
    .description('test connectors now, as POST …/test does (a manual test); exit code 1 when any fails')
    .option('--all', 'every enabled connector (of --org, if given)')
    .option('--org <slug>', 'with --all: only this organization (slug or id)')
    .action((ids: string[], options: { all?: boolean; org?: string }) =>
      withContext(async (context) => {
        if (ids.length === 0 && !options.all) throw new Error('name connector ids, or use --all');
        const services = servicesFor(context, loadKeyRing(context.config));
        const targets: Connector[] = [];
        if (options.all) {
          for await (const c of connectorsOf(context, await organizationIdOf(services, options.org))) if (c.enabled) targets.push(c);
        }
        for (const id of ids) {
          const found = await context.models.Connector.findByPk(id);
          if (!found) throw new Error(`no connector ${id}`);
          targets.push(found);
        }
        // As many at once as the scheduler runs; lines come out in the order the connectors were named.
        const lines: string[] = new Array<string>(targets.length);
        let next = 0;
        let failed = 0;
        const worker = async () => {
          for (let index = next++; index < targets.length; index = next++) {
            const c = targets[index] as Connector;
            const result = await services.connectors.test({ organizationId: c.organization_id, actor: { type: 'system', id: null } }, c.id);
            if (!result.success) failed += 1;
            lines[index] = [c.id, c.name, c.provider, result.success ? `ok\t${result.latency_ms} ms` : `failed\t${result.error_code ?? 'upstream_error'}: ${result.message}`].join('\t');
          }
        };
        await Promise.all(Array.from({ length: Math.min(context.config.health.concurrency, targets.length) }, worker));
        await services.harness.close();
        for (const line of lines) console.log(line);
        if (failed > 0) {
          console.error(`${failed} of ${targets.length} connector test(s) failed`);
          process.exitCode = 1;
        }
      }),
    );
}
