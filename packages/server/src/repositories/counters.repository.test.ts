import { afterEach, describe, expect, it } from 'vitest';
import { MemoryCounters, type Counters } from '../services/counters.js';
import { openPostgres } from '../db/database.js';
import { createTestDatabase, dropTestDatabase, openTestStore, STORES } from '../testing/stores.js';
import { StoreCounters, StoreLocks } from './counters.repository.js';

/** The same behaviour from the in-memory counters (one node) and the store's, on both engines (several nodes). */
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const kinds: [string, () => Promise<Counters>][] = [
  ['memory', async () => new MemoryCounters()],
  ...STORES.map((kind): [string, () => Promise<Counters>] => [
    `store on ${kind}`,
    async () => {
      const s = await openTestStore(kind);
      closers.push(s.close);
      return new StoreCounters(s.db);
    },
  ]),
];

describe.each(kinds)('counters (%s)', (_name, make) => {
  it('count hits in a fixed window and start again after it', async () => {
    const c = await make();
    const t = 1_000_000;
    expect(await c.hit('k', 60_000, t)).toEqual({ count: 1, resetAt: t + 60_000, lastAt: t });
    expect(await c.hit('k', 60_000, t + 10)).toEqual({ count: 2, resetAt: t + 60_000, lastAt: t + 10 });
    expect(await c.peek('k', t + 20)).toEqual({ count: 2, resetAt: t + 60_000, lastAt: t + 10 });
    expect(await c.hit('other', 60_000, t + 20)).toMatchObject({ count: 1 });
    expect(await c.peek('k', t + 60_000)).toBeNull();
    expect(await c.hit('k', 60_000, t + 60_000)).toEqual({ count: 1, resetAt: t + 120_000, lastAt: t + 60_000 });
  });

  it('push a sliding window back with every hit, and forget on reset', async () => {
    const c = await make();
    const t = 2_000_000;
    await c.hit('s', 1000, t, { slide: true });
    await c.hit('s', 1000, t + 900, { slide: true });
    expect(await c.hit('s', 1000, t + 1800, { slide: true })).toEqual({ count: 3, resetAt: t + 2800, lastAt: t + 1800 });
    await c.reset('s');
    expect(await c.peek('s', t + 1801)).toBeNull();
  });

  it('count every one of many hits at once, and prune closed windows', async () => {
    const c = await make();
    const t = 3_000_000;
    const counts = await Promise.all(Array.from({ length: 40 }, () => c.hit('busy', 60_000, t)));
    expect(counts.map((x) => x.count).sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    await c.hit('short', 10, t);
    await c.prune(t + 11);
    expect(await c.peek('short', t)).toBeNull();
    expect(await c.peek('busy', t + 11)).toMatchObject({ count: 40 });
  });

  it('let one caller at a time check and count a key (exclusive)', async () => {
    const c = await make();
    const t = 4_000_000;
    // Twenty callers at once may each hit only while the count is under 5: exactly 5 do.
    const allowed = await Promise.all(
      Array.from({ length: 20 }, () =>
        c.exclusive('guard', async () => {
          const seen = await c.peek('guard', t);
          if ((seen?.count ?? 0) >= 5) return false;
          await c.hit('guard', 60_000, t);
          return true;
        }),
      ),
    );
    expect(allowed.filter(Boolean)).toHaveLength(5);
  });
});

describe('store locks on PostgreSQL', () => {
  it('let one node at a time run the work of a key, whichever node asks', async () => {
    const url = await createTestDatabase('locks');
    const [one, two] = [await openPostgres(url), await openPostgres(url)];
    try {
      const nodes = [new StoreLocks(one), new StoreLocks(two)];
      // A read-wait-write on shared state loses updates unless the nodes take turns.
      let value = 0;
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          nodes[i % 2]!.exclusive('upload/x', async () => {
            const seen = value;
            await new Promise((r) => setTimeout(r, 5));
            value = seen + 1;
          }),
        ),
      );
      expect(value).toBe(20);
    } finally {
      await one.destroy();
      await two.destroy();
      await dropTestDatabase(url);
    }
  });
});
