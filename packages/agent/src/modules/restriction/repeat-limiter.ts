/**
 * Lets a thing through at most once per `everyMs` per key, counting what it held back: the next
 * one let through carries that count (so an alert says "and 41 more since").
 */
export class RepeatLimiter {
  #seen = new Map<string, { at: number; held: number }>();

  constructor(
    private readonly everyMs: number,
    private readonly maxKeys = 10_000,
  ) {}

  /** null: hold this one back; a number: let it through, with how many were held back since the last. */
  hit(key: string, now: number): number | null {
    const s = this.#seen.get(key);
    if (s && now - s.at < this.everyMs) {
      s.held++;
      return null;
    }
    const held = s?.held ?? 0;
    if (!s && this.#seen.size >= this.maxKeys) this.#prune(now);
    this.#seen.set(key, { at: now, held: 0 });
    return held;
  }

  /** Forgets keys whose window has passed (their held counts were never going to be told otherwise: dropped). */
  #prune(now: number): void {
    for (const [k, s] of this.#seen) if (now - s.at >= this.everyMs) this.#seen.delete(k);
    // Still full (a flood of distinct keys within one window): start over rather than grow without end.
    if (this.#seen.size >= this.maxKeys) this.#seen.clear();
  }
}
