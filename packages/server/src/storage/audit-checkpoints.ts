import { mkdir, open, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { SignedCheckpoint } from '../audit/checkpoint.js';

export interface CheckpointLog {
  append(c: SignedCheckpoint): Promise<void>;
  /** The checkpoint written last (whichever node wrote it), or null when there is none. */
  last(): Promise<SignedCheckpoint | null>;
  /** Every checkpoint in the order written; a line that is not a checkpoint is reported by number. */
  read(): Promise<{ checkpoints: SignedCheckpoint[]; badLine: number | null }>;
}

const TAIL_BYTES = 64 * 1024;

/**
 * Checkpoints as JSON lines in the data directory (`audit/checkpoints.jsonl`, 0600), each appended
 * and fsync'd before the next: outside the database, so a database-only attacker cannot touch them.
 */
export class CheckpointFile implements CheckpointLog {
  constructor(private readonly file: string) {}

  async append(c: SignedCheckpoint): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    await this.#endLastLine();
    const fh = await open(this.file, 'a', 0o600);
    try {
      await fh.appendFile(`${JSON.stringify(c)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  /**
   * A last line without its newline was cut short by a crash mid-append (appends are one at a time,
   * under the checkpoint lock): half a checkpoint is dropped, a whole one gets its newline, so the
   * next append starts a line of its own and the file still reads whole.
   */
  async #endLastLine(): Promise<void> {
    let fh;
    try {
      fh = await open(this.file, 'r+');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw e;
    }
    try {
      const { size } = await fh.stat();
      if (size === 0) return;
      const length = Math.min(size, TAIL_BYTES);
      const { buffer, bytesRead } = await fh.read(Buffer.alloc(length), 0, length, size - length);
      const tail = buffer.subarray(0, bytesRead);
      if (tail[tail.length - 1] === 0x0a) return;
      const start = tail.lastIndexOf(0x0a) + 1;
      if (isCheckpoint(tail.subarray(start).toString('utf8'))) await fh.write('\n', size);
      else await fh.truncate(size - (tail.length - start));
      await fh.sync();
    } finally {
      await fh.close();
    }
  }

  async last(): Promise<SignedCheckpoint | null> {
    let fh;
    try {
      fh = await open(this.file, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    try {
      // Only the file's end is read: a checkpoint line is a few hundred bytes, the file grows for years.
      const { size } = await fh.stat();
      const length = Math.min(size, TAIL_BYTES);
      const { buffer, bytesRead } = await fh.read(Buffer.alloc(length), 0, length, size - length);
      const lines = buffer.subarray(0, bytesRead).toString('utf8').split('\n');
      for (let i = lines.length - 1; i >= 0; i--) {
        try {
          const c = JSON.parse(lines[i]!) as SignedCheckpoint;
          if (Number.isSafeInteger(c.seq)) return c;
        } catch {
          // The empty end, or a torn last line (a crash mid-append): the line before it holds.
        }
      }
      return null;
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

function isCheckpoint(line: string): boolean {
  try {
    return Number.isSafeInteger((JSON.parse(line) as SignedCheckpoint).seq);
  } catch {
    return false;
  }
}
