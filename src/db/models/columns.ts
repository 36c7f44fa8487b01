import {
  DataTypes,
  Model,
  type CreationOptional,
  type DataType,
  type InferAttributes,
  type InferCreationAttributes,
  type InitOptions,
  type ModelAttributeColumnOptions,
  type ModelAttributes,
  type ModelStatic,
  type Sequelize,
} from 'sequelize';
import { newId } from '../ids.js';
import { isPostgres } from '../sequelize.js';

/*
 * The column definitions and model options the models share. Every helper returns a fresh object: Sequelize writes
 * into each attribute definition (its field name among others), so one definition never serves two models.
 */

type ColumnOptions = Omit<ModelAttributeColumnOptions, 'type' | 'allowNull'>;

/** A NOT NULL column of `type`. */
export const required = (type: DataType, options?: ColumnOptions) => ({ type, allowNull: false, ...options });

/** A column that may hold null. */
export const optional = (type: DataType, options?: ColumnOptions) => ({ type, allowNull: true, ...options });

/** Another Patchbay row's id (or the id of whoever made the row), as the pb_ tables store it. */
export const rowId = () => required(DataTypes.STRING(64));

/** `id`, `created_at` and `updated_at` of every Patchbay (pb_) row; the id is a UUID v4 string, filled in on create. */
export const rowColumns = () => ({
  id: { type: DataTypes.STRING(64), primaryKey: true, defaultValue: () => newId() },
  created_at: required(DataTypes.DATE),
  updated_at: required(DataTypes.DATE),
});

/** `managed_by` of the rows a provisioning file may own (migration 0007). */
export const managedBy = () => optional(DataTypes.STRING(16), { defaultValue: null });

/** A row an organisation owns, with who made it and whether a provisioning file owns it. */
export const ownedRowColumns = () => ({
  ...rowColumns(),
  organization_id: rowId(),
  created_by: optional(DataTypes.STRING(64)),
  managed_by: managedBy(),
});

/** A secret shown once (API key, agent token): only its prefix and its hash are stored. */
export const credentialColumns = (hash: 'key_hash' | 'token_hash') => ({
  name: optional(DataTypes.STRING(200)),
  prefix: required(DataTypes.STRING(32)),
  [hash]: required(DataTypes.STRING(64), { unique: true }),
  last_used_at: optional(DataTypes.DATE),
  expires_at: optional(DataTypes.DATE),
  revoked_at: optional(DataTypes.DATE),
});

/**
 * A row holding one Fernet token (key_id names its key), locked optimistically on `version`, switched by `enabled`,
 * and counting failures in a row.
 */
export const sealedColumns = () => ({
  key_id: required(DataTypes.STRING(8)),
  version: required(DataTypes.INTEGER, { defaultValue: 1 }),
  enabled: required(DataTypes.BOOLEAN, { defaultValue: true }),
  description: optional(DataTypes.TEXT),
  consecutive_failures: required(DataTypes.INTEGER, { defaultValue: 0 }),
});

/**
 * snake_case columns, with the timestamp attributes named after them: without createdAt/updatedAt, Sequelize adds
 * its own camelCase attributes on the same columns and the declared ones stay null.
 */
export const modelOptions = { timestamps: true, underscored: true, createdAt: 'created_at', updatedAt: 'updated_at' } as const;

/** "file": created or last changed by `patchbay apply` (docs/provisioning.md); the API then refuses hand edits. */
export type ManagedBy = 'file' | null;

/** The attributes `rowColumns` gives a model. */
export abstract class Row<M extends Model> extends Model<InferAttributes<M>, InferCreationAttributes<M>> {
  declare id: CreationOptional<string>;
  declare created_at: CreationOptional<Date>;
  declare updated_at: CreationOptional<Date>;
}

/** The attributes `ownedRowColumns` gives a model. */
export abstract class OwnedRow<M extends Model> extends Row<M> {
  declare organization_id: string;
  declare created_by: string | null;
  declare managed_by: CreationOptional<ManagedBy>;
}

/** The attributes `ownedRowColumns` and `sealedColumns` give a model. */
export abstract class SealedRow<M extends Model> extends OwnedRow<M> {
  declare key_id: string;
  declare version: CreationOptional<number>;
  declare enabled: CreationOptional<boolean>;
  declare description: string | null;
  declare consecutive_failures: CreationOptional<number>;
}

/** Sequelize's optimistic locking on `version` (sealedColumns): every save checks and bumps it, a stale one throws. */
export const lockedModelOptions = { ...modelOptions, version: 'version' } as const;

/** JSONB on PostgreSQL, JSON on SQLite, which has no JSONB. */
export const jsonColumnType = (sequelize: Sequelize) => (isPostgres(sequelize) ? DataTypes.JSONB : DataTypes.JSON);

type DefineOptions = Omit<InitOptions, 'sequelize' | 'tableName' | 'modelName'>;

/**
 * Binds a fresh subclass of `model` to `sequelize`, so one process can hold models for several databases (tests run
 * SQLite and PostgreSQL side by side). The model name is the class name.
 */
export function define<M extends ModelStatic<Model>>(
  sequelize: Sequelize,
  model: M,
  tableName: string,
  attributes: ModelAttributes,
  options: DefineOptions = modelOptions,
): M {
  const bound = class extends (model as ModelStatic<Model>) {};
  bound.init(attributes, { ...options, sequelize, tableName, modelName: model.name });
  return bound as unknown as M;
}
