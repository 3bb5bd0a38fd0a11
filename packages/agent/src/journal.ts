import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileDurable } from './durable.js';

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
  readonly #lock: string;
  readonly #cache = new Map<string, JournalEntry>();

  constructor(dataDir: string) {
    this.#dir = join(dataDir, 'journal');
    mkdirSync(this.#dir, { recursive: true, mode: 0o700 });
    this.#lock = join(dataDir, 'agent.lock');
    takeLock(this.#lock);
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
    // Durable before the ack: without it a power cut could forget the entry, and the command would run again.
    writeFileDurable(join(this.#dir, `${entry.actionId}.json`), JSON.stringify(entry));
    this.#cache.set(entry.actionId, entry);
  }

  /** Releases the data directory for the next agent process. */
  close(): void {
    rmSync(this.#lock, { force: true });
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

/**
 * One agent process per data directory: two would each trust their own view of the journal and
 * could both run a command. A lock left by a process that no longer exists is taken over.
 */
function takeLock(file: string): void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, String(process.pid), { flag: 'wx', mode: 0o600 });
      return;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const holder = Number.parseInt(readFileSync(file, 'utf8'), 10);
    if (holder === process.pid) return;
    if (Number.isInteger(holder) && holder > 0 && isAlive(holder)) {
      throw new Error(`Another agent (pid ${holder}) is already running with this data directory (${file})`);
    }
    rmSync(file, { force: true });
  }
  throw new Error(`Could not take the agent lock ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
