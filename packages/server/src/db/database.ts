import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, SqliteDialect, type Migration, type MigrationProvider } from 'kysely';
import type { Database } from './schema.js';
import * as initial from './migrations/20261125000000_initial.js';
import * as isolation from './migrations/20261125120000_isolation.js';
import * as packages from './migrations/20261125140000_packages.js';
import * as users from './migrations/20261125160000_users.js';
import * as consoleIndexes from './migrations/20261125180000_console.js';
import * as content from './migrations/20261129120000_content.js';
import * as auditChain from './migrations/20261129200000_audit_chain.js';
import * as revocation from './migrations/20261130120000_revocation.js';
import * as timelineAction from './migrations/20261130150000_timeline_action.js';
import * as readiness from './migrations/20261201120000_readiness.js';

export type Db = Kysely<Database>;

/** Migrations in order; one file per change, named by time, never edited once released. */
const MIGRATIONS: Record<string, Migration> = {
  '20261125000000_initial': initial,
  '20261125120000_isolation': isolation,
  '20261125140000_packages': packages,
  '20261125160000_users': users,
  '20261125180000_console': consoleIndexes,
  '20261129120000_content': content,
  '20261129200000_audit_chain': auditChain,
  '20261130120000_revocation': revocation,
  '20261130150000_timeline_action': timelineAction,
  '20261201120000_readiness': readiness,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

/** Where the store lives: the one setting that chooses the engine (only SQLite behind it for now). */
export interface StoreConfig {
  /** The server's data directory: the embedded SQLite file is `cordon.db` in it. */
  dataDir: string;
}

/** Opens the server's store, migrated, with the engine its configuration chooses. */
export async function openStore(config: StoreConfig): Promise<Db> {
  return openSqlite(join(config.dataDir, 'cordon.db'));
}

/** Opens the embedded SQLite store (WAL, so readers never wait for the writer) and migrates it. */
export async function openSqlite(file: string): Promise<Db> {
  // The store holds credential hashes and the audit trail: the server's user only, whatever the
  // umask or the data directory's mode. SQLite gives its -wal and -shm files the database's mode;
  // a store made by an earlier version (0644) is tightened too.
  closeSync(openSync(file, 'a', 0o600));
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  const sqlite = new SQLite(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) });
  await migrate(db);
  return db;
}

export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`Database migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Runs `work` in the caller's transaction when there is one, or in a new one: repositories compose. */
export function atomically<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}
