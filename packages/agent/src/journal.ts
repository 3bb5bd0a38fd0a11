import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';

export interface JournalEntry {
  actionId: string;
  type: string;
  expiresAt: string;
  /** running: started and not finished; done: result known; cancelled: never to run. */
  state: 'running' | 'done' | 'cancelled';
  /** The process that started it: a 'running' entry from another process was interrupted. */
  bootId: string;
  startedAt: string;
  result?: { status: 'Succeeded' | 'Failed'; error: string | null; result: Record<string, unknown> | null };
  /** The server confirmed it stored the result; until then the result is re-sent on every connect. */
  reported: boolean;
}

const ID = /^[0-9a-f-]{36}$/;

/**
 * One fsync'd file per action id. It is written before an action is acknowledged, so a command
 * that arrives twice (redelivery, replay, restart) is recognised and never runs twice, and the
 * results double as the outbox while the server is unreachable.
 */
export class Journal {
  readonly #dir: string;
  readonly #cache = new Map<string, JournalEntry>();

  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'journal');
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    for (const name of readdirSync(this.#dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        const e = JSON.parse(readFileSync(join(this.#dir, name), 'utf8')) as JournalEntry;
        if (ID.test(e.actionId)) this.#cache.set(e.actionId, e);
      } catch {
        // A torn write can only be the temp file of an interrupted update; the rename never happened.
      }
    }
  }

  get(actionId: string): JournalEntry | undefined {
    return this.#cache.get(actionId);
  }

  put(entry: JournalEntry): void {
    if (!ID.test(entry.actionId)) throw new Error(`bad action id ${entry.actionId}`);
    const file = join(this.#dir, `${entry.actionId}.json`);
    const tmp = `${file}.tmp`;
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, JSON.stringify(entry));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
    this.#cache.set(entry.actionId, entry);
  }

  /** Results the server has not confirmed yet, oldest first. */
  unreported(): JournalEntry[] {
    return [...this.#cache.values()].filter((e) => e.state === 'done' && !e.reported).sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }

  /** Entries a previous process left running: it was killed mid-action. */
  interrupted(bootId: string): JournalEntry[] {
    return [...this.#cache.values()].filter((e) => e.state === 'running' && e.bootId !== bootId);
  }

  /** Forgets reported entries whose command has expired: a replay of those is refused as Expired anyway. */
  prune(now: Date): number {
    const limit = new Date(now.getTime() - 86400_000).toISOString();
    let n = 0;
    for (const e of this.#cache.values()) {
      if ((e.reported || e.state === 'cancelled') && e.expiresAt < limit) {
        rmSync(join(this.#dir, `${e.actionId}.json`), { force: true });
        this.#cache.delete(e.actionId);
        n++;
      }
    }
    return n;
  }
}
