import type { Command } from 'commander';
import { devKeyWarning } from '../crypto/key-source.js';
import { createLogger } from '../logger.js';
import { loadKeyRing, openContext, run, servicesFor } from './context.js';

export function register(program: Command): void {
  program
    .command('scheduler')
    .description('run only the background work (scheduled health checks, webhook deliveries, retention), no HTTP API')
    .action(() =>
      run(async () => {
        const context = await openContext();
        try {
          const keys = loadKeyRing(context.config);
          const log = createLogger(context.config);
          if (keys.devKeyFile) log.warn({ file: keys.devKeyFile }, devKeyWarning(keys.devKeyFile));
          const services = servicesFor(context, keys, log);
          services.scheduler.start();
          const signal = await new Promise<string>((resolve) => {
            process.once('SIGTERM', () => resolve('SIGTERM'));
            process.once('SIGINT', () => resolve('SIGINT'));
          });
          log.info({ signal }, 'shutting down');
          // The checks in flight finish (each within its own deadline) and are recorded before the database closes.
          await services.scheduler.stop();
          await services.harness.close();
        } finally {
          await context.sequelize.close();
        }
      }),
    );
}
