import { afterEach, describe, expect, it } from 'vitest';
import { openTestStore, STORES } from '../testing/stores.js';
import { insertMany } from './portable.js';

describe.each(STORES)('insertMany on %s', (kind) => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => close?.());

  it('inserts every row with its types, skips what a unique index refuses, and answers the keys inserted', async () => {
    const store = await openTestStore(kind);
    close = store.close;
    const types = { count: 'integer', window_ends: 'bigint', last_at: 'bigint' };
    // More rows than SQLite binds in one statement.
    const rows = Array.from({ length: 9000 }, (_, i) => ({ key: `k${i}`, count: i, window_ends: 2 ** 40 + i, last_at: 0 }));
    expect(await insertMany(store.db, 'counters', rows, { types, returning: 'key' })).toHaveLength(9000);
    const again = await insertMany(store.db, 'counters', [{ key: 'k1', count: 7, window_ends: 1, last_at: 1 }, { key: 'new', count: 1, window_ends: 1, last_at: 1 }], { types, skipConflicts: true, returning: 'key' });
    expect(again).toEqual(['new']);
    const k = await store.db.selectFrom('counters').selectAll().where('key', 'in', ['k1', 'k8999']).orderBy('key').execute();
    expect(k).toEqual([
      { key: 'k1', count: 1, window_ends: 2 ** 40 + 1, last_at: 0 },
      { key: 'k8999', count: 8999, window_ends: 2 ** 40 + 8999, last_at: 0 },
    ]);
    expect(await insertMany(store.db, 'counters', [])).toEqual([]);
    await expect(insertMany(store.db, 'counters', [{ key: 'k2', count: 1, window_ends: 1, last_at: 1 }])).rejects.toThrow();
  });
});
