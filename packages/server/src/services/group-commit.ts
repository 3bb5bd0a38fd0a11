/**
 * Group commit: items submitted close together are written together, so a burst of small writes
 * (alerts from many senders) costs a few transactions, not one each. The first item of a quiet
 * moment waits `lingerMs` for company (the others are still being authenticated and parsed, and
 * on SQLite they queue behind the running transaction for its one connection); items that arrive
 * while a batch is written go in the next one. Items submitted together (`submitAll`) are always
 * written in the same batch: they are stored all or none. Each submitter's promise settles when
 * its batch is committed, or fails with it.
 */
export class GroupCommit<I, O> {
  #queue: { items: I[]; resolve: (o: O[]) => void; reject: (e: unknown) => void }[] = [];
  #draining = false;

  constructor(
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly opts: { maxBatch?: number; lingerMs?: number } = {},
  ) {}

  async submit(item: I): Promise<O> {
    return (await this.submitAll([item]))[0]!;
  }

  /** Several items written in one batch (however many: a group is never split), answered in order. */
  submitAll(items: I[]): Promise<O[]> {
    return new Promise<O[]>((resolve, reject) => {
      this.#queue.push({ items, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        setTimeout(() => void this.#drain(), this.opts.lingerMs ?? 0);
      }
    });
  }

  async #drain(): Promise<void> {
    const max = this.opts.maxBatch ?? 500;
    while (this.#queue.length > 0) {
      // Whole groups, up to `max` items (a larger group goes alone).
      let size = 0;
      let groups = 0;
      while (groups < this.#queue.length && (groups === 0 || size + this.#queue[groups]!.items.length <= max)) size += this.#queue[groups++]!.items.length;
      const batch = this.#queue.splice(0, groups);
      try {
        const out = await this.write(batch.flatMap((g) => g.items));
        let at = 0;
        for (const g of batch) {
          g.resolve(out.slice(at, at + g.items.length));
          at += g.items.length;
        }
      } catch (e) {
        for (const g of batch) g.reject(e);
      }
    }
    this.#draining = false;
  }
}
