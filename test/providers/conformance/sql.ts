import assert from 'node:assert/strict';
import type { OperationCase } from './fixture.js';

/**
 * The `describe` case of a SQL provider's fixture: `table` is listed with its columns in order. Called in
 * read_write mode, which describe ignores (it always runs as a read).
 */
export function sqlDescribeCase(table: string, columns: { name: string; type: string; nullable: boolean }[]): OperationCase {
  return {
    name: 'describe lists the tables with their columns, also when called in read_write mode',
    operation: 'describe',
    input: {},
    mode: 'read_write',
    check: (result) => {
      const { tables } = result.data as { tables: { name: string }[] };
      assert.deepEqual(
        tables.find((described) => described.name === table),
        { name: table, columns },
      );
    },
  };
}
