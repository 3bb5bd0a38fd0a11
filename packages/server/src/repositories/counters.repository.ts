import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { underStoreLock } from '../db/portable.js';
import { KeyedMutex, type Counter, type Counters, type Locks } from '../services/counters.js';

/**
 * Counters in the store, so every node counts against the same number: one upsert per hit (the
 * same SQL on SQLite and PostgreSQL), which answers the count as it stands after it.
 */
/** Callers in this process queue in memory; nodes queue on a PostgreSQL advisory lock (one connection held meanwhile). */
export class StoreLocks implements Locks {
  readonly #mutex = new KeyedMutex();
  constructor(private readonly db: Db) {}

  exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.#mutex.run(key, () => underStoreLock(this.db, key, work));
  }
}

export class StoreCounters implements Counters {
  readonly #locks: StoreLocks;
  constructor(private readonly db: Db) {
    this.#locks = new StoreLocks(db);
  }

  exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.#locks.exclusive(`counter/${key}`, work);
  }

  async hit(key: string, windowMs: number, now: number, opts: { slide?: boolean } = {}): Promise<Counter> {
    const ends = now + windowMs;
    // An expired window starts again at 1; a sliding one is pushed back by every hit.
    const row = await this.db
      .insertInto('counters')
      .values({ key, count: 1, window_ends: ends, last_at: now })
      .onConflict((oc) =>
        oc.column('key').doUpdateSet({
          count: sql`case when counters.window_ends <= ${now} then 1 else counters.count + 1 end`,
          window_ends: opts.slide ? sql`${ends}` : sql`case when counters.window_ends <= ${now} then ${ends} else counters.window_ends end`,
          last_at: sql`${now}`,
        }),
      )
      .returning(['count', 'window_ends', 'last_at'])
      .executeTakeFirstOrThrow();
    return { count: Number(row.count), resetAt: Number(row.window_ends), lastAt: Number(row.last_at) };
  }

  async peek(key: string, now: number): Promise<Counter | null> {
    const row = await this.db.selectFrom('counters').select(['count', 'window_ends', 'last_at']).where('key', '=', key).where('window_ends', '>', now).executeTakeFirst();
    return row ? { count: Number(row.count), resetAt: Number(row.window_ends), lastAt: Number(row.last_at) } : null;
  }

  async reset(key: string): Promise<void> {
    await this.db.deleteFrom('counters').where('key', '=', key).execute();
  }

  async prune(now: number): Promise<void> {
    await this.db.deleteFrom('counters').where('window_ends', '<=', now).execute();
  }
}
