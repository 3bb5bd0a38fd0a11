import { PostgresAdapter, sql } from 'kysely';
import type { Db } from '../db/database.js';

/**
 * Makes the store refuse inserts into `table` (as a full disk or a broken store would), on either
 * engine, optionally only for rows whose `column` is LIKE `pattern`; answers how to heal it.
 */
export async function failInserts(db: Db, table: string, only?: { column: string; like: string }): Promise<() => Promise<void>> {
  const trigger = `${table}_fails`;
  if (db.getExecutor().adapter instanceof PostgresAdapter) {
    const when = only ? sql`when (new.${sql.ref(only.column)} like ${sql.lit(only.like)})` : sql``;
    await sql`create or replace function cordon_test_fail() returns trigger language plpgsql as $$ begin raise exception 'disk full'; end $$`.execute(db);
    await sql`create trigger ${sql.id(trigger)} before insert on ${sql.table(table)} for each row ${when} execute function cordon_test_fail()`.execute(db);
    return async () => void (await sql`drop trigger ${sql.id(trigger)} on ${sql.table(table)}`.execute(db));
  }
  const when = only ? sql`when new.${sql.ref(only.column)} like ${sql.lit(only.like)}` : sql``;
  await sql`create trigger ${sql.id(trigger)} before insert on ${sql.table(table)} ${when} begin select raise(abort, 'disk full'); end`.execute(db);
  return async () => void (await sql`drop trigger ${sql.id(trigger)}`.execute(db));
}
