import { DataTypes, type Sequelize } from 'sequelize';
import { define, required, Row, rowColumns, rowId } from './columns.js';

/** A web console session (migration 0006): the cookie's value is never stored, only its hash. */
export class ConsoleSession extends Row<ConsoleSession> {
  declare token_hash: string;
  declare user_id: string;
  declare api_key_id: string;
  declare idle_expires_at: Date;
  declare absolute_expires_at: Date;
}

export function initSessionModels(sequelize: Sequelize) {
  const ConsoleSessionModel = define(sequelize, ConsoleSession, 'pb_console_sessions', {
    ...rowColumns(),
    token_hash: required(DataTypes.STRING(64), { unique: true }),
    user_id: rowId(),
    api_key_id: rowId(),
    idle_expires_at: required(DataTypes.DATE),
    absolute_expires_at: required(DataTypes.DATE),
  });
  return { ConsoleSession: ConsoleSessionModel };
}
