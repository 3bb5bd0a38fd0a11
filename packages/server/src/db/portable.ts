import { CompiledQuery, PostgresAdapter, sql, type CreateTableBuilder, type Kysely } from 'kysely';
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

/**
 * Inserts many rows of `table` in one statement, skipping rows a unique index refuses when
 * `skipConflicts`; answers the `returning` column of the rows inserted. On PostgreSQL the rows go
 * as one array per column (`unnest`): a parameter per column instead of per value, which
 * PostgreSQL parses and binds much faster for a large batch (a bulk action writes thousands).
 * `types` names each column's PostgreSQL type where it is not text. SQLite takes a multi-row VALUES.
 */
export async function insertMany(
  db: Db,
  table: string,
  rows: Record<string, unknown>[],
  opts: { types?: Record<string, string>; skipConflicts?: boolean; returning?: string } = {},
): Promise<unknown[]> {
  if (rows.length === 0) return [];
  const columns = Object.keys(rows[0]!);
  if (isPostgres(db)) {
    const arrays = columns.map((c) => sql`${rows.map((r) => r[c] ?? null)}::${sql.raw(`${opts.types?.[c] ?? 'text'}[]`)}`);
    const conflict = opts.skipConflicts ? sql` on conflict do nothing` : sql``;
    const returning = opts.returning ? sql` returning ${sql.ref(opts.returning)}` : sql``;
    const r = await sql<Record<string, unknown>>`insert into ${sql.table(table)} (${sql.join(columns.map((c) => sql.ref(c)))}) select * from unnest(${sql.join(arrays)})${conflict}${returning}`.execute(db);
    return opts.returning ? r.rows.map((x) => x[opts.returning!]) : [];
  }
  const out: unknown[] = [];
  // SQLite binds at most 32,766 parameters per statement.
  const perStatement = Math.max(1, Math.floor(32_000 / columns.length));
  // The statement is written here rather than built node by node by Kysely, which cost more than
  // SQLite's own work for a batch of alerts. Names come from code, never from a request; every
  // value is a bound parameter.
  const head = `insert into ${quoted(table)} (${columns.map(quoted).join(', ')}) values `;
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  const tail = `${opts.skipConflicts ? ' on conflict do nothing' : ''}${opts.returning ? ` returning ${quoted(opts.returning)}` : ''}`;
  for (let i = 0; i < rows.length; i += perStatement) {
    const chunk = rows.slice(i, i + perStatement);
    const values: unknown[] = [];
    for (const r of chunk) for (const c of columns) values.push(r[c] ?? null);
    const r = await db.executeQuery<Record<string, unknown>>(CompiledQuery.raw(head + Array(chunk.length).fill(tuple).join(', ') + tail, values));
    if (opts.returning) for (const x of r.rows) out.push(x[opts.returning]);
  }
  return out;
}

/** An identifier written into SQL: in double quotes, any double quote doubled. */
function quoted(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}
