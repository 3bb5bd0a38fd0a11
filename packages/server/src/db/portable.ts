import { PostgresAdapter, sql, type CreateTableBuilder, type Kysely } from 'kysely';
import type { Db } from './database.js';

/** The one place SQLite and PostgreSQL differ in our DDL: an auto-incrementing integer key. */
export function autoIncrementId<T extends string>(table: CreateTableBuilder<T, never>, db: Kysely<unknown>): CreateTableBuilder<T, 'id'> {
  return isPostgres(db)
    ? table.addColumn('id', 'serial', (c) => c.primaryKey())
    : table.addColumn('id', 'integer', (c) => c.primaryKey().autoIncrement());
}

/** True when an insert hit a unique index, on either engine. */
export function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: unknown })?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}

export function isPostgres(db: Pick<Kysely<unknown>, 'getExecutor'>): boolean {
  return db.getExecutor().adapter instanceof PostgresAdapter;
}

/**
 * Serializes the transactions `tx` belongs to on `key` until it ends: a PostgreSQL transaction-level
 * advisory lock, so writers on several nodes queue. SQLite needs none: its one connection runs one
 * transaction at a time.
 */
export async function lockForTransaction(tx: Db, key: string): Promise<void> {
  if (!tx.isTransaction) throw new Error('lockForTransaction needs a transaction');
  if (isPostgres(tx)) await sql`select pg_advisory_xact_lock(hashtextextended(${key}, 0))`.execute(tx);
}

/**
 * Runs `work` while holding a store-wide lock named `name`: on PostgreSQL a session advisory lock
 * held by one reserved connection, so nodes starting at the same moment take turns (the first makes
 * the keys and the admin, the others find them). SQLite has one server process: nothing to wait for.
 */
export async function underStoreLock<T>(db: Db, name: string, work: () => Promise<T>): Promise<T> {
  if (!isPostgres(db)) return work();
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(hashtextextended(${name}, 0))`.execute(conn);
    try {
      return await work();
    } finally {
      await sql`select pg_advisory_unlock(hashtextextended(${name}, 0))`.execute(conn);
    }
  });
}

/** Errors that mean the store could not be reached (not that a query was wrong), on either engine. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', 'SQLITE_BUSY']);

export function isStoreUnreachable(e: unknown): boolean {
  if (e instanceof AggregateError) return e.errors.some(isStoreUnreachable);
  const code = String((e as { code?: unknown })?.code ?? '');
  // PostgreSQL's connection exceptions are class 08; node-postgres reports a dropped or refused connection in words.
  if (UNREACHABLE_CODES.has(code) || code.startsWith('08')) return true;
  const message = e instanceof Error ? e.message : '';
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|the database system is (starting up|shutting down)/i.test(message);
}
