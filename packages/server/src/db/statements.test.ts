import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqlite, type Db } from './database.js';

// SQLite only: PostgreSQL prepares nothing on the client side.
let dir: string;
let db: Db;
afterEach(async () => {
  await db.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('SQLite prepared statements', () => {
  it('answers a reused statement with the current rows and its own parameters', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cordon-statements-'));
    db = await openSqlite(join(dir, 'cordon.db'));
    const add = (n: number) => db.insertInto('counters').values({ key: `k${n}`, count: n, window_ends: 0, last_at: 0 }).execute();
    const over = async (min: number) => (await db.selectFrom('counters').select('count').where('count', '>', min).orderBy('count').execute()).map((r) => r.count);
    await add(1);
    await add(2);
    expect(await over(0)).toEqual([1, 2]);
    expect(await over(1)).toEqual([2]);
    await add(3);
    // The same SQL text (a cached statement) sees the row written since.
    expect(await over(0)).toEqual([1, 2, 3]);
    await db.schema.alterTable('counters').addColumn('note', 'text').execute();
    // A schema change since the statement was prepared is no problem either.
    expect(await over(2)).toEqual([3]);
  });
});
