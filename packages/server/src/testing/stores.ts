import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { openPostgres, openSqlite, type Db } from '../db/database.js';

/** The two engines every repository test runs on. */
export type StoreKind = 'sqlite' | 'postgres';
export const STORES: readonly StoreKind[] = ['sqlite', 'postgres'];

/** The engine tests use unless they name one: `CORDON_TEST_STORE` (the suite runs the server's tests once per engine). */
export function defaultTestStore(): StoreKind {
  const v = process.env.CORDON_TEST_STORE;
  if (v === undefined || v === '' || v === 'sqlite') return 'sqlite';
  if (v === 'postgres') return 'postgres';
  throw new Error(`CORDON_TEST_STORE must be sqlite or postgres, not ${JSON.stringify(v)}`);
}

/** The run's PostgreSQL server (started once by vitest.global-setup.ts), as its superuser URL. */
function serverUrl(): string {
  const url = process.env.CORDON_TEST_POSTGRES_URL;
  if (url) return url;
  throw new Error(process.env.CORDON_TEST_POSTGRES_MISSING ?? 'no test PostgreSQL: run the tests with vitest (vitest.global-setup.ts starts one)');
}

/** A new empty database on the run's PostgreSQL server; answers its URL. */
export function createTestDatabase(prefix = 'cordon'): Promise<string> {
  return newDatabase(prefix, null);
}

/**
 * A new database with every migration applied: a copy of the template vitest.global-setup.ts
 * migrated once for the run (`CORDON_TEST_POSTGRES_TEMPLATE`), which saves each test running all
 * migrations over the network (about half a second); an empty one where there is no template.
 */
export function createMigratedTestDatabase(prefix = 'cordon'): Promise<string> {
  return newDatabase(prefix, process.env.CORDON_TEST_POSTGRES_TEMPLATE || null);
}

/** Makes `cordon_template` on the run's server and migrates it; answers its name (for CORDON_TEST_POSTGRES_TEMPLATE). */
export async function createTemplateDatabase(): Promise<string> {
  const url = await newDatabase('cordon_template', null);
  const db = await openPostgres(url, { poolSize: 1 });
  await db.destroy(); // a template must have no connections while it is copied
  return new URL(url).pathname.slice(1);
}

async function newDatabase(prefix: string, template: string | null): Promise<string> {
  const admin = new URL(serverUrl());
  const name = `${prefix.replace(/[^a-z0-9]/gi, '_').toLowerCase().slice(0, 30)}_${process.pid}_${Date.now().toString(36)}_${(counter++).toString(36)}`;
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    // FILE_COPY: PostgreSQL 15's default (WAL_LOG) writes every page of the template to the WAL,
    // twice as slow here; the run's server keeps no WAL worth having (fsync is off).
    await client.query(`create database "${name}"${template ? ` template "${template}"` : ''} strategy file_copy`);
  } finally {
    await client.end();
  }
  admin.pathname = `/${name}`;
  return admin.toString();
}
let counter = 0;

/**
 * The same database through the server's Unix socket (`?host=<dir>`): for a node started inside
 * a network namespace of the test bed, which cannot reach this machine's loopback.
 */
export function viaSocket(url: string): string {
  const dir = process.env.CORDON_TEST_POSTGRES_SOCKET_DIR;
  if (!dir) throw new Error(process.env.CORDON_TEST_POSTGRES_MISSING ?? 'no test PostgreSQL socket: run the tests with vitest (vitest.global-setup.ts starts one)');
  const u = new URL(url);
  u.searchParams.set('host', dir);
  return u.toString();
}

/** Drops a database made by createTestDatabase (its connections are closed first). */
export async function dropTestDatabase(url: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(`drop database if exists "${name}" with (force)`);
  } finally {
    await client.end();
  }
}

/** A migrated store of `kind` of its own (a temp SQLite file, or a new PostgreSQL database), for repository tests. */
export async function openTestStore(kind: StoreKind): Promise<{ db: Db; close(): Promise<void> }> {
  if (kind === 'postgres') {
    const url = await createMigratedTestDatabase('repo');
    const db = await openPostgres(url);
    return { db, close: async () => (await db.destroy(), await dropTestDatabase(url)) };
  }
  const dir = mkdtempSync(join(tmpdir(), 'cordon-repo-'));
  const db = await openSqlite(join(dir, 'cordon.db'));
  return { db, close: async () => (await db.destroy(), rmSync(dir, { recursive: true, force: true })) };
}
