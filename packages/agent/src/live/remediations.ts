import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { z } from 'zod';
import { writeFileDurable } from '../durable.js';
import type { Remediation } from './types.js';

/** Where the device's remediations are kept, under the agent's data directory. */
export const remediationsFile = (dataDir: string): string => join(dataDir, 'live-response', 'remediations.json');

/** Records kept: the oldest go first past this many (a device remediated this often needs a person, not a list). */
export const REMEDIATIONS_KEPT = 1000;

const RemediationRecord = z.strictObject({
  id: z.string().regex(/^r[0-9a-f]{8}$/),
  kind: z.enum(['process', 'file', 'cron']),
  target: z.string(),
  doneAt: z.string(),
  undo: z.union([z.strictObject({ quarantineId: z.string() }), z.strictObject({ cronFile: z.string(), marker: z.string() }), z.strictObject({ impossible: z.string() })]),
  undoneAt: z.string().nullable(),
  detail: z.record(z.string(), z.unknown()),
});
const RemediationsFile = z.strictObject({ format: z.literal('cordon-remediations/v1'), remediations: z.array(RemediationRecord) });

/**
 * What `remediate` did on this device, across sessions and agent restarts, so `remediate list`
 * shows it and `undo <id>` reverses it in a later session. Kept in one JSON file written whole
 * (temp file, fsync, rename: a crash leaves the old or the new list, never a torn one). Every read
 * goes to the file: a batch's shell and a session's see each other's records. A damaged file is
 * moved aside (kept for a person to read) and the list starts empty: a session never fails for it.
 * Without a data directory (tests of other commands) the records live in memory.
 */
export class RemediationRecords {
  #memory: Remediation[] = [];

  constructor(
    private readonly file: string | null,
    private readonly onDamaged: (message: string) => void = () => {},
  ) {}

  /** Every recorded remediation, oldest first. */
  list(): Remediation[] {
    return this.file ? this.#read(this.file) : this.#memory.map((r) => structuredClone(r));
  }

  /** Records a remediation that was done (durable before the command reports it done). */
  add(r: Remediation): void {
    this.#write([...this.list(), r].slice(-REMEDIATIONS_KEPT));
  }

  /** Records that remediation `id` was undone at `at`; answers the record as it now is. */
  markUndone(id: string, at: string): Remediation | null {
    const all = this.list();
    const r = all.find((x) => x.id === id);
    if (!r) return null;
    r.undoneAt = at;
    this.#write(all);
    return r;
  }

  #read(file: string): Remediation[] {
    if (!existsSync(file)) return [];
    let why: string;
    try {
      const parsed = RemediationsFile.safeParse(JSON.parse(readFileSync(file, 'utf8')));
      if (parsed.success) return parsed.data.remediations as Remediation[];
      why = `${parsed.error.issues[0]?.path.join('.') ?? ''} ${parsed.error.issues[0]?.message ?? 'not a remediation list'}`.trim();
    } catch (e) {
      why = (e as Error).message;
    }
    // Moved aside, not overwritten: the next record would otherwise erase what a person may still need.
    const aside = `${file}.damaged-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      renameSync(file, aside);
      this.onDamaged(`${file} is damaged (${why}); moved to ${aside}; the remediation list starts empty`);
    } catch (e) {
      this.onDamaged(`${file} is damaged (${why}) and could not be moved aside (${(e as Error).message}); the remediation list reads as empty`);
    }
    return [];
  }

  #write(all: Remediation[]): void {
    if (!this.file) {
      this.#memory = all.map((r) => structuredClone(r));
      return;
    }
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    writeFileDurable(this.file, JSON.stringify({ format: 'cordon-remediations/v1', remediations: all }, null, 1));
  }
}
