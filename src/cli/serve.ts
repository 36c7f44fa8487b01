import type { Command } from 'commander';
import { loadConfig } from '../config.js';
import { startServer } from '../server.js';
import { describeFailure } from './context.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('migrate the database and start the HTTP API')
    .option('--host <host>', 'listen address (overrides HOST)')
    .option('--port <port>', 'listen port (overrides PORT)')
    .option('--no-scheduler', 'run an API-only process (no scheduled health checks)')
    .action(async (options: { host?: string; port?: string; scheduler: boolean }) => {
      let config;
      try {
        config = loadConfig({
          ...process.env,
          ...(options.host ? { HOST: options.host } : {}),
          ...(options.port ? { PORT: options.port } : {}),
        });
        await startServer({ config, scheduler: options.scheduler, env: process.env });
      } catch (error) {
        process.stderr.write(`error: ${describeFailure(error, config)}\n`);
        process.exit(1);
      }
    });
}
