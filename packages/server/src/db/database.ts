import { chmodSync, closeSync, existsSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import SQLite from 'better-sqlite3';
import { Kysely, Migrator, PostgresDialect, SqliteDialect, sql, type Migration, type MigrationProvider } from 'kysely';
import type pg from 'pg';
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
import * as nodes from './migrations/20261202120000_nodes.js';
import * as counters from './migrations/20261202130000_counters.js';
import * as indicators from './migrations/20261203110000_indicators.js';
import * as alerts from './migrations/20261203120000_alerts.js';
import * as alertsQueue from './migrations/20261204120000_alerts_queue.js';
import * as rulePacks from './migrations/20261205120000_rule_packs.js';
import * as scanPolicies from './migrations/20261206100000_scan_policies.js';
import * as quarantine from './migrations/20261206120000_quarantine.js';
import * as libraryFiles from './migrations/20261207100000_library_files.js';
import * as liveResponse from './migrations/20261208100000_live_response.js';
import * as liveResponseFiles from './migrations/20261208110000_live_response_files.js';
import * as liveResponseCompletions from './migrations/20261209100000_live_response_completions.js';
import * as deviceGroups from './migrations/20261209110000_device_groups.js';
import * as liveResponseInput from './migrations/20261209120000_live_response_input.js';
import * as restriction from './migrations/20261210100000_restriction.js';

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
  '20261202120000_nodes': nodes,
  '20261202130000_counters': counters,
  '20261203110000_indicators': indicators,
  '20261203120000_alerts': alerts,
  '20261204120000_alerts_queue': alertsQueue,
  '20261205120000_rule_packs': rulePacks,
  '20261206100000_scan_policies': scanPolicies,
  '20261206120000_quarantine': quarantine,
  '20261207100000_library_files': libraryFiles,
  '20261208100000_live_response': liveResponse,
  '20261208110000_live_response_files': liveResponseFiles,
  '20261209100000_live_response_completions': liveResponseCompletions,
  '20261209110000_device_groups': deviceGroups,
  '20261209120000_live_response_input': liveResponseInput,
  '20261210100000_restriction': restriction,
};

class StaticMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    return MIGRATIONS;
  }
}

/** Where the store lives: a PostgreSQL URL chooses PostgreSQL, else the embedded SQLite file. */
export interface StoreConfig {
  /** The server's data directory: the embedded SQLite file is `cordon.db` in it. */
  dataDir: string;
  /** `postgres://…`: the shared store of several nodes. */
  databaseUrl?: string;
}

/** The store could not be reached or opened; the message names the URL without its password. */
export class StoreUnavailableError extends Error {}

/** Opens the server's store, migrated, with the engine its configuration chooses. */
export async function openStore(config: StoreConfig): Promise<Db> {
  return config.databaseUrl ? openPostgres(config.databaseUrl) : openSqlite(join(config.dataDir, 'cordon.db'), { checkpointInBackground: true });
}

/** A database URL fit for logs and errors: the password is replaced by `***`. */
export function redactedUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(a database URL that cannot be parsed)';
  }
}

/** PostgreSQL's int8 (counts, sums) as numbers rather than strings: our counts stay far below 2^53. */
const INT8_OID = 20;
const pgTypes = (types: typeof pg.types) => ({
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => (oid === INT8_OID ? (v: string) => Number(v) : types.getTypeParser(oid, format))) as typeof pg.types.getTypeParser,
});

/** Why a connection failed, in one line (Node reports a refused `localhost` as an AggregateError with no message). */
function reason(e: unknown): string {
  if (e instanceof AggregateError && !e.message) return e.errors.map(reason).join('; ');
  if (e instanceof Error) return e.message || String((e as { code?: unknown }).code ?? e.name);
  return String(e);
}

/** Opens a PostgreSQL store through a connection pool, checks it answers, and migrates it. */
export async function openPostgres(url: string, opts: { poolSize?: number } = {}): Promise<Db> {
  // Loaded only for PostgreSQL: a single node on SQLite does not carry the driver.
  const { default: driver } = await import('pg');
  const pool = new driver.Pool({ connectionString: url, max: opts.poolSize ?? 20, connectionTimeoutMillis: 10_000, types: pgTypes(driver.types) });
  // An idle client whose server went away emits 'error' on the pool: without a listener that would
  // end the process; the next query gets a fresh connection instead.
  pool.on('error', () => {});
  // A checked-out client whose connection drops emits 'error' too (its query fails on its own);
  // unheard, that event would end the process when the database restarts.
  pool.on('connect', (client) => client.on('error', () => {}));
  try {
    const client = await pool.connect();
    client.release();
  } catch (e) {
    await pool.end().catch(() => {});
    throw new StoreUnavailableError(`cannot reach the database at ${redactedUrl(url)}: ${reason(e)}`);
  }
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
  await migrate(db);
  return db;
}

/**
 * Opens the embedded SQLite store (WAL, so readers never wait for the writer) and migrates it.
 * `checkpointInBackground`: for the server, whose commits should never wait for a checkpoint.
 */
export async function openSqlite(file: string, opts: { checkpointInBackground?: boolean } = {}): Promise<Db> {
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
  const checkpointer = opts.checkpointInBackground ? checkpointInBackground(sqlite, file) : null;
  const db = new Kysely<Database>({ dialect: new SqliteDialect({ database: reusingStatements(sqlite, checkpointer) }) });
  if (checkpointer) {
    // Kysely's destroy neither awaits the close below nor knows the thread: without this, callers
    // went on (and removed the data directory) while the thread and the connection still closed.
    const destroy = db.destroy.bind(db);
    db.destroy = async () => {
      await destroy();
      await checkpointer.close();
    };
  }
  await migrate(db);
  return db;
}

/**
 * The database as Kysely's SQLite driver sees it, with `prepare` answering the statement already
 * prepared for the same SQL text (the most recent `max` of them). The driver prepares one per
 * query, and preparing cost about a tenth of the server's time under a burst of writes; a
 * statement still iterating (busy) is never handed out twice.
 */
function reusingStatements(sqlite: SQLite.Database, checkpointer: Checkpointer | null, max = 500): SQLite.Database {
  const prepared = new Map<string, SQLite.Statement>();
  const prepare = (text: string): SQLite.Statement => {
    const cached = prepared.get(text);
    if (cached && !cached.busy) {
      // Most recently used last: the first key is the one to evict.
      prepared.delete(text);
      prepared.set(text, cached);
      return cached;
    }
    const statement = sqlite.prepare(text);
    prepared.set(text, statement);
    if (prepared.size > max) prepared.delete(prepared.keys().next().value!);
    return statement;
  };
  return new Proxy(sqlite, {
    get(target, property) {
      if (property === 'prepare') return prepare;
      if (property === 'close' && checkpointer) {
        return () => {
          void checkpointer.close();
          return target;
        };
      }
      const value = Reflect.get(target, property, target) as unknown;
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(target) : value;
    },
  });
}

export interface Checkpointer {
  /**
   * Ends the thread, then closes the server's connection: closing last, it folds the WAL back in.
   * Called again, answers the same close.
   */
  close(): Promise<void>;
  /** Settles once the thread has ended (after `close`, or on its own). */
  readonly ended: Promise<void>;
}

/** What the checkpointing thread runs (CommonJS): a connection of its own, a PASSIVE checkpoint every `everyMs`. */
const CHECKPOINT_THREAD = `
const { parentPort, workerData } = require('node:worker_threads');
const Database = require(workerData.driver);
const db = new Database(workerData.file);
db.pragma('synchronous = NORMAL');
db.pragma('wal_autocheckpoint = 0');
const timer = setInterval(() => db.pragma('wal_checkpoint(PASSIVE)'), workerData.everyMs);
parentPort.on('message', () => {
  clearInterval(timer);
  db.close();
  parentPort.close();
});
`;

/**
 * Moves WAL checkpoints off the server's thread. SQLite otherwise checkpoints inside the commit
 * that crosses 1,000 WAL pages, copying them and waiting for two fsyncs: under a burst of alerts
 * those commits took a fifth of the server's time. Here a thread of its own copies committed pages
 * every quarter second (PASSIVE: it never waits for or blocks the writer), and the server's
 * connection never checkpoints. Should that thread die, the server's connection checkpoints
 * again as before, so the WAL never grows without bound.
 */
export function checkpointInBackground(sqlite: SQLite.Database, file: string, everyMs = 250, driver = createRequire(import.meta.url).resolve('better-sqlite3')): Checkpointer {
  const worker = new Worker(CHECKPOINT_THREAD, { eval: true, workerData: { driver, file, everyMs } });
  worker.unref();
  let stopping = false;
  sqlite.pragma('wal_autocheckpoint = 0');
  // A burst can grow the WAL between checkpoints; once checkpointed and reused it is cut back to this.
  sqlite.pragma(`journal_size_limit = ${64 * 1024 * 1024}`);
  const fallBack = () => {
    if (!stopping && sqlite.open) sqlite.pragma('wal_autocheckpoint = 1000');
  };
  worker.on('error', fallBack);
  const ended = new Promise<void>((resolve) => worker.on('exit', () => resolve(fallBack())));
  let closed: Promise<void> | null = null;
  return {
    ended,
    close() {
      if (closed) return closed;
      stopping = true;
      // Unref'd while it runs, but the store's close waits for it: held from now, or a process
      // awaiting that close could run out of work and exit (13, unsettled top-level await).
      worker.ref();
      worker.postMessage('stop');
      closed = ended.then(() => {
        if (sqlite.open) sqlite.close();
      });
      return closed;
    },
  };
}

export async function migrate(db: Db): Promise<void> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider() });
  const { error, results } = await migrator.migrateToLatest();
  const failed = results?.find((r) => r.status === 'Error');
  if (error || failed) {
    throw new Error(`Database migration ${failed?.migrationName ?? ''} failed: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** Whether the store answers a trivial query within `timeoutMs`. */
export async function storeAnswers(db: Db, timeoutMs = 2000): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([sql`select 1`.execute(db).then(() => true, () => false), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `storeAnswers` for callers that ask often (every agent probing /healthz, frames waiting for the
 * store to return): the store is asked at most once per `ttlMs`.
 */
export function storeAnswersCached(db: Db, ttlMs = 1500): () => Promise<boolean> {
  return sharedAnswer(() => storeAnswers(db), ttlMs);
}

/** `ask`, asked again only once its last answer is `ttlMs` old; callers while it is asked share that question. */
export function sharedAnswer<T>(ask: () => Promise<T>, ttlMs: number, now: () => number = () => performance.now()): () => Promise<T> {
  let answer: Promise<T> | null = null;
  let answeredAt = 0;
  let asking = false;
  return () => {
    if (answer && (asking || now() - answeredAt < ttlMs)) return answer;
    asking = true;
    answer = ask().finally(() => {
      asking = false;
      answeredAt = now();
    });
    return answer;
  };
}

/** Runs `work` in the caller's transaction when there is one, or in a new one: repositories compose. */
export function atomically<T>(db: Db, work: (tx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? work(db) : db.transaction().execute(work);
}
