import { z } from 'zod';
import {
  alternativeIssues,
  connectionUrlField,
  hostField,
  isReadStatement,
  networkFields,
  networkIssues,
  operation,
  passwordField,
  portField,
  sqlQueryInput,
  usernameField,
} from './_shared/common-fields.js';
import { overridable, type Provider } from './types.js';

const config = z.strictObject({
  host: hostField('MySQL or MariaDB server'),
  port: portField('MySQL or MariaDB server', 3306),
  database: overridable(
    z.string().min(1).optional().describe('Default database; an attachment may switch it, and it wins over connection_string.'),
  ),
  username: usernameField('to log in as'),
  password: passwordField('of username'),
  ssl: z.boolean().default(false).describe('Connect over TLS (see the tls_* fields).'),
  connection_string: connectionUrlField(
    ['mysql', 'mariadb'],
    'mysql://user:password@host:port/database; an alternative to host, port, username and password.',
  ),
  ...networkFields,
});

const mysql: Provider<typeof config> = {
  id: 'mysql',
  type: 'database',
  description: 'MySQL and MariaDB databases, queried one parameterised statement at a time.',
  config,
  refine: (value) => [
    ...networkIssues(value),
    ...alternativeIssues(config, value, 'connection_string', ['host', 'port', 'username', 'password'], 'host'),
  ],
  operations: {
    query: operation(
      'Run one SQL statement with `:name` parameters; rows come back keyed by column name.',
      sqlQueryInput,
      (input) => !isReadStatement(input.query, 'mysql'),
    ),
  },
  defaultOperation: 'query',
  classify: () => undefined,
};

export default mysql;
