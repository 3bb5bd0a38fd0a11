/** A count in a time window. */
export interface Counter {
  count: number;
  /** When the window ends (ms since the epoch); the count starts again after it. */
  resetAt: number;
  /** The latest hit (ms since the epoch). */
  lastAt: number;
}

/**
 * Counts in time windows (rate limits, failed sign-ins). One node keeps them in memory
 * (MemoryCounters); several nodes share them in the store (repositories/counters.repository.ts),
 * so spreading requests over nodes buys no more of either.
 */
export interface Counters {
  /** Adds one to `key`; a `slide` window is pushed back by every hit (forgotten `windowMs` after the last). */
  hit(key: string, windowMs: number, now: number, opts?: { slide?: boolean }): Promise<Counter>;
  /** The count of `key` if its window is still open. */
  peek(key: string, now: number): Promise<Counter | null>;
  reset(key: string): Promise<void>;
  /** Forgets closed windows. */
  prune(now: number): Promise<void>;
  /** Runs `work` while no other caller (on any node) runs work for `key`: a check and a hit as one step. */
  exclusive<T>(key: string, work: () => Promise<T>): Promise<T>;
}

/** Work that must not run twice at once for one key: in this process (KeyedMutex) or on every node of a store (StoreLocks). */
export interface Locks {
  exclusive<T>(key: string, work: () => Promise<T>): Promise<T>;
}

/** One caller at a time per key, in this process. */
export class KeyedMutex implements Locks {
  exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.run(key, work);
  }

  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    const result = before.then(work, work);
    const tail = result.catch(() => undefined);
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }
}

export class MemoryCounters implements Counters {
  readonly #counts = new Map<string, Counter>();
  readonly #mutex = new KeyedMutex();

  exclusive<T>(key: string, work: () => Promise<T>): Promise<T> {
    return this.#mutex.run(key, work);
  }

  async hit(key: string, windowMs: number, now: number, opts: { slide?: boolean } = {}): Promise<Counter> {
    const c = this.#counts.get(key);
    const open = c && c.resetAt > now;
    const next = { count: open ? c.count + 1 : 1, resetAt: open && !opts.slide ? c.resetAt : now + windowMs, lastAt: now };
    if (!open && this.#counts.size > 100_000) await this.prune(now);
    this.#counts.set(key, next);
    return next;
  }

  async peek(key: string, now: number): Promise<Counter | null> {
    const c = this.#counts.get(key);
    return c && c.resetAt > now ? c : null;
  }

  async reset(key: string): Promise<void> {
    this.#counts.delete(key);
  }

  async prune(now: number): Promise<void> {
    for (const [k, c] of this.#counts) if (c.resetAt <= now) this.#counts.delete(k);
  }
}
