import { PostgresAdapter, type CreateTableBuilder, type Kysely } from 'kysely';

/** The one place SQLite and PostgreSQL differ in our DDL: an auto-incrementing integer key. */
export function autoIncrementId<T extends string>(table: CreateTableBuilder<T, never>, db: Kysely<unknown>): CreateTableBuilder<T, 'id'> {
  const isPostgres = db.getExecutor().adapter instanceof PostgresAdapter;
  return isPostgres
    ? table.addColumn('id', 'serial', (c) => c.primaryKey())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/** True when an insert hit a unique index, on either engine. */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
