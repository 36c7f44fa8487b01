import pino, { type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import type { Config } from './config.js';

/**
 * Paths pino censors before a line is written. Connector configs, overrides, credentials and tokens never
 * reach a log line; code that logs an error logs the PatchbayError (already scrubbed), not a driver's.
 */
export const redactPaths = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'authorization',
  'config',
  '*.config',
  'config_override',
  '*.config_override',
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'key',
  '*.key',
  'api_key',
  '*.api_key',
  'connection_string',
  '*.connection_string',
  'body.config',
  'params',
  '*.params',
];

export function loggerOptions(config: Pick<Config, 'logLevel'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: { paths: redactPaths, censor: '********' },
    base: { service: 'patchbay' },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
}

/** JSON lines; pretty only when a person is watching a terminal (and pino-pretty is installed). */
export function createLogger(config: Pick<Config, 'logLevel'>, destination?: DestinationStream): Logger {
  const options = loggerOptions(config);
  if (destination) return pino(options, destination);
  if (process.stdout.isTTY) {
    return pino({ ...options, transport: { target: 'pino-pretty', options: { colorize: true, translateTime: 'SYS:standard' } } });
  }
  return pino(options);
}
