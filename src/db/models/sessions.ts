import {
  DataTypes,
  Model,
  type CreationOptional,
  type InferAttributes,
  type InferCreationAttributes,
  type Sequelize,
} from 'sequelize';
import { idColumn, modelOptions, timestampColumns } from './columns.js';

/** A web console session (migration 0006): the cookie's value is never stored, only its hash. */
export class ConsoleSession extends Model<InferAttributes<ConsoleSession>, InferCreationAttributes<ConsoleSession>> {
  declare id: CreationOptional<string>;
  declare token_hash: string;
  declare user_id: string;
  declare api_key_id: string;
  declare idle_expires_at: Date;
  declare absolute_expires_at: Date;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

export function initSessionModels(sequelize: Sequelize) {
  class ConsoleSessionModel extends ConsoleSession {}
  ConsoleSessionModel.init(
    {
      id: idColumn,
      token_hash: { type: DataTypes.STRING(64), allowNull: false, unique: true },
      user_id: { type: DataTypes.STRING(64), allowNull: false },
      api_key_id: { type: DataTypes.STRING(64), allowNull: false },
      idle_expires_at: { type: DataTypes.DATE, allowNull: false },
      absolute_expires_at: { type: DataTypes.DATE, allowNull: false },
      ...timestampColumns,
    },
    { sequelize, tableName: 'pb_console_sessions', modelName: 'ConsoleSession', ...modelOptions },
  );
  return { ConsoleSession: ConsoleSessionModel as typeof ConsoleSession };
}
