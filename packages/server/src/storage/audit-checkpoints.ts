import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SignedCheckpoint } from '../audit/checkpoint.js';

export interface CheckpointLog {
  append(c: SignedCheckpoint): Promise<void>;
  /** Every checkpoint in the order written; a line that is not a checkpoint is reported by number. */
  read(): Promise<{ checkpoints: SignedCheckpoint[]; badLine: number | null }>;
}

/**
 * Checkpoints as JSON lines in the data directory (`audit/checkpoints.jsonl`, 0600), each appended
 * and fsync'd before the next: outside the database, so a database-only attacker cannot touch them.
 */
export class CheckpointFile implements CheckpointLog {
  constructor(private readonly file: string) {}

  async append(c: SignedCheckpoint): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const fh = await open(this.file, 'a', 0o600);
    try {
      await fh.appendFile(`${JSON.stringify(c)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async read(): Promise<{ checkpoints: SignedCheckpoint[]; badLine: number | null }> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { checkpoints: [], badLine: null };
      throw e;
    }
    const checkpoints: SignedCheckpoint[] = [];
    const lines = text.split('\n');
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i]!;
      if (line === '') continue;
      try {
        const c = JSON.parse(line) as SignedCheckpoint;
        if (!Number.isSafeInteger(c.seq) || typeof c.hash !== 'string' || typeof c.time !== 'string' || typeof c.keyId !== 'string' || typeof c.signature !== 'string') return { checkpoints, badLine: i + 1 };
        checkpoints.push(c);
      } catch {
        // A torn last line (a crash mid-append) is not tampering: the line before it still holds.
        if (i === lines.length - 1) break;
        return { checkpoints, badLine: i + 1 };
      }
    }
    return { checkpoints, badLine: null };
  }
}
