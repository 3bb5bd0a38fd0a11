/**
 * Group commit: items submitted close together are written together, so a burst of small writes
 * (alerts from many senders) costs a few transactions, not one each. The first item of a quiet
 * moment waits `lingerMs` for company (the others are still being authenticated and parsed, and
 * on SQLite they queue behind the running transaction for its one connection); items that arrive
 * while a batch is written go in the next one. Each submitter's promise settles when its batch is
 * committed, or fails with it.
 */
export class GroupCommit<I, O> {
  #queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  #draining = false;

  constructor(
    private readonly write: (items: I[]) => Promise<O[]>,
    private readonly opts: { maxBatch?: number; lingerMs?: number } = {},
  ) {}

  submit(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#draining) {
        this.#draining = true;
        setTimeout(() => void this.#drain(), this.opts.lingerMs ?? 0);
      }
    });
  }

  async #drain(): Promise<void> {
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.opts.maxBatch ?? 500);
      try {
        const out = await this.write(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(out[i]!));
      } catch (e) {
        for (const b of batch) b.reject(e);
      }
    }
    this.#draining = false;
  }
}
