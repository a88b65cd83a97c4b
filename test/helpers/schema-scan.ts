// Questions asked of every table of the test's schema, read from information_schema, so a table
// added later is asked too: which tables hold rows of a workspace, and where a value (an id, an
// email) still appears in any column that can hold text.
import { sql } from 'kysely';
import type { Db } from '../../src/store/db.js';

/** Every base table of the schema with a workspace_id column, and how many rows each holds for the workspace. */
export async function countWorkspaceRows(db: Db, workspaceId: string): Promise<Record<string, number>> {
  const { rows: tables } = await sql<{ table_name: string }>`
    select c.table_name from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
    where c.table_schema = current_schema() and c.column_name = 'workspace_id'
    order by c.table_name
  `.execute(db);
  const counts: Record<string, number> = {};
  for (const { table_name } of tables) {
    const { rows } = await sql<{ n: string }>`select count(*) as n from ${sql.table(table_name)} where workspace_id = ${workspaceId}`.execute(db);
    counts[table_name] = Number(rows[0]!.n);
  }
  const { rows } = await sql<{ n: string }>`select count(*) as n from workspaces where id = ${workspaceId}`.execute(db);
  counts.workspaces = Number(rows[0]!.n);
  return counts;
}

/** Tables that reference, by foreign key, a table holding workspace rows but have no workspace_id of their own. */
export async function listIndirectlyScopedTables(db: Db): Promise<{ table: string; column: string; references: string }[]> {
  const { rows } = await sql<{ table_name: string; column_name: string; referenced: string }>`
    select kcu.table_name, kcu.column_name, ccu.table_name as referenced
    from information_schema.table_constraints tc
    join information_schema.key_column_usage kcu on kcu.constraint_name = tc.constraint_name and kcu.table_schema = tc.table_schema
    join information_schema.constraint_column_usage ccu on ccu.constraint_name = tc.constraint_name and ccu.table_schema = tc.table_schema
    where tc.table_schema = current_schema() and tc.constraint_type = 'FOREIGN KEY'
      and (ccu.table_name = 'workspaces' or exists (
        select 1 from information_schema.columns c where c.table_schema = current_schema() and c.table_name = ccu.table_name and c.column_name = 'workspace_id'))
      and not exists (
        select 1 from information_schema.columns c where c.table_schema = current_schema() and c.table_name = kcu.table_name and c.column_name = 'workspace_id')
  `.execute(db);
  return rows.map((r) => ({ table: r.table_name, column: r.column_name, references: r.referenced }));
}

export interface Mention {
  table: string;
  column: string;
  value: string;
  /** The matching rows, as JSON text (for a failure message and for deciding what is allowed). */
  rows: Record<string, unknown>[];
}

/** Every column of every table that holds one of `values` (as text, anywhere in the column's text form), with the rows. */
export async function findMentions(db: Db, values: string[]): Promise<Mention[]> {
  const { rows: columns } = await sql<{ table_name: string; column_name: string }>`
    select c.table_name, c.column_name from information_schema.columns c
    join information_schema.tables t on t.table_schema = c.table_schema and t.table_name = c.table_name and t.table_type = 'BASE TABLE'
    where c.table_schema = current_schema()
      and c.data_type in ('text', 'character varying', 'character', 'uuid', 'json', 'jsonb', 'ARRAY')
    order by c.table_name, c.column_name
  `.execute(db);
  const found: Mention[] = [];
  for (const { table_name, column_name } of columns)
    for (const value of values) {
      const { rows } = await sql<Record<string, unknown>>`
        select * from ${sql.table(table_name)} where strpos(${sql.ref(column_name)}::text, ${value}) > 0
      `.execute(db);
      if (rows.length > 0) found.push({ table: table_name, column: column_name, value, rows });
    }
  return found;
}
