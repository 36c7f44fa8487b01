import { DataTypes } from 'sequelize';
import { newId } from '../ids.js';

/** The column definitions and model options every Patchbay (pb_) model shares. */

/** A Patchbay row id: a UUID v4 string, filled in on create. */
export const idColumn = { type: DataTypes.STRING(64), primaryKey: true, defaultValue: () => newId() };

/** `managed_by` of the rows a provisioning file may own (migration 0007). */
export const managedByColumn = { type: DataTypes.STRING(16), allowNull: true, defaultValue: null };

export const timestampColumns = {
  created_at: { type: DataTypes.DATE, allowNull: false },
  updated_at: { type: DataTypes.DATE, allowNull: false },
};

/**
 * snake_case columns, with the timestamp attributes named after them: without createdAt/updatedAt, Sequelize adds
 * its own camelCase attributes on the same columns and the declared ones stay null.
 */
export const modelOptions = { timestamps: true, underscored: true, createdAt: 'created_at', updatedAt: 'updated_at' } as const;
