interface Waiting {
  id: string;
  key: string;
  limit: number;
  /** Called synchronously when the slot is granted; false declines it (nothing is held). */
  onStart: () => boolean;
  resolve: (started: boolean) => void;
  reject: (err: unknown) => void;
}

/**
 * Admission control for actions: at most `limit` running per key (action type) and `globalLimit`
 * in all. Waiters start in arrival order among those that fit, so a busy type does not hold up
 * another. A grant calls `onStart` synchronously, before any other frame can be handled: the
 * runner journals the action as running there, leaving no moment where it is neither queued nor
 * journaled (a cancel or a redelivery in between would otherwise miss it).
 */
export class ActionSlots {
  readonly #active = new Map<string, number>();
  readonly #waiting: Waiting[] = [];
  #total = 0;

  constructor(private readonly globalLimit: number) {}

  /** Resolves true once started (`onStart` accepted), false when dropped or declined; rejects when `onStart` throws. */
  acquire(id: string, key: string, limit: number, onStart: () => boolean): Promise<boolean> {
    return new Promise((resolve, reject) => {
      this.#waiting.push({ id, key, limit: Math.max(1, limit), onStart, resolve, reject });
      this.#pump();
    });
  }

  /** Frees the slot of an action that ended. */
  release(key: string): void {
    const n = (this.#active.get(key) ?? 1) - 1;
    if (n > 0) this.#active.set(key, n);
    else this.#active.delete(key);
    this.#total--;
    this.#pump();
  }

  isWaiting(id: string): boolean {
    return this.#waiting.some((w) => w.id === id);
  }

  /** Removes a waiting action unstarted; false when it is not waiting (running, or unknown). */
  drop(id: string): boolean {
    const i = this.#waiting.findIndex((w) => w.id === id);
    if (i < 0) return false;
    this.#waiting.splice(i, 1)[0]!.resolve(false);
    return true;
  }

  #pump(): void {
    for (let i = 0; i < this.#waiting.length && this.#total < this.globalLimit; ) {
      const w = this.#waiting[i]!;
      if ((this.#active.get(w.key) ?? 0) >= w.limit) {
        i++;
        continue;
      }
      this.#waiting.splice(i, 1);
      let accepted: boolean;
      try {
        accepted = w.onStart();
      } catch (e) {
        // Its own failure (e.g. the journal cannot be written): the waiter's, never the releaser's.
        w.reject(e);
        continue;
      }
      if (!accepted) {
        w.resolve(false);
        continue;
      }
      this.#active.set(w.key, (this.#active.get(w.key) ?? 0) + 1);
      this.#total++;
      w.resolve(true);
    }
  }
}
