import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterEach, describe, expect, it } from 'vitest';
import { checkpointInBackground, openSqlite } from './database.js';

// SQLite only: PostgreSQL checkpoints on its own.
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'cordon-checkpoints-'));
  dirs.push(d);
  return d;
};
const until = async (what: string, ok: () => boolean, ms = 5000) => {
  for (const deadline = Date.now() + ms; !ok(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > deadline) throw new Error(`no ${what} within ${ms} ms`);
};

describe('WAL checkpoints in the background', () => {
  it("copies committed pages into the database from a thread of its own; the server's connection never checkpoints", async () => {
    const file = join(tempDir(), 'cordon.db');
    const db = await openSqlite(file, { checkpointInBackground: true });
    expect((await sql<{ wal_autocheckpoint: number }>`pragma wal_autocheckpoint`.execute(db)).rows[0]!.wal_autocheckpoint).toBe(0);
    await sql`create table filler (x text)`.execute(db);
    const before = statSync(file).size;
    // Well past the 1,000 pages at which the connection would otherwise checkpoint in a commit.
    for (let i = 0; i < 40; i++) await sql`insert into filler select ${'x'.repeat(4000)} from (select 1 union all select 2 union all select 3 union all select 4 union all select 5)`.execute(db);
    await until('checkpoint', () => statSync(file).size > before + 500_000);
    await db.destroy();
  });

  it('is closed when the store is: the thread first, then the connection that folds the WAL back in', async () => {
    const dir = tempDir();
    const file = join(dir, 'cordon.db');
    const db = await openSqlite(file, { checkpointInBackground: true });
    await sql`create table filler (x text)`.execute(db);
    await sql`insert into filler values (${'x'.repeat(4000)})`.execute(db);
    await new Promise((r) => setTimeout(r, 400)); // the thread's connection open, a checkpoint done
    await db.destroy();
    // Nothing is left open or still to be written: no WAL, and the directory can go at once (a
    // thread closing after the store was destroyed made the harness's rmSync fail with ENOTEMPTY).
    expect(readdirSync(dir)).toEqual(['cordon.db']);
  });

  it('keeps a process alive until the store is closed, so a script that awaits destroy finishes it', async () => {
    // The thread is unref'd while it runs; once destroy waits for it, nothing else may keep the
    // event loop alive: a `cordon` command exited with 13 (unsettled top-level await) half-way.
    const file = join(tempDir(), 'cordon.db');
    const script = `import { openSqlite } from ${JSON.stringify(new URL('./database.ts', import.meta.url).href)};
const db = await openSqlite(${JSON.stringify(file)}, { checkpointInBackground: true });
await db.destroy();
console.log('closed');`;
    for (let i = 0; i < 3; i++) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
      expect({ status: r.status, stdout: r.stdout.trim(), stderr: r.stderr.trim() }).toEqual({ status: 0, stdout: 'closed', stderr: '' });
    }
  });

  it('gives checkpoints back to the connection when the thread dies, so the WAL never grows without bound', async () => {
    const file = join(tempDir(), 'cordon.db');
    const sqlite = new SQLite(file);
    sqlite.pragma('journal_mode = WAL');
    const checkpointer = checkpointInBackground(sqlite, file, 250, join(tempDir(), 'no-such-driver.js'));
    expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(0);
    await checkpointer.ended;
    expect(sqlite.pragma('wal_autocheckpoint', { simple: true })).toBe(1000);
    sqlite.close();
  });
});
