import { mkdir, open, readFile, type FileHandle } from 'node:fs/promises';
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
    // Appends are one at a time (under the checkpoint lock), so a last line without its newline was
    // cut short by a crash mid-append: half a checkpoint is dropped, a whole one gets its newline,
    // and this one starts a line of its own, so the file still reads whole.
    const fh = await open(this.file, 'a+', 0o600);
    try {
      const { size } = await fh.stat();
      const tail = await readTail(fh, size);
      const unended = tail.subarray(tail.lastIndexOf(0x0a) + 1); // empty when the file ends with a newline
      const whole = unended.length === 0 || parseCheckpoint(unended.toString('utf8')) !== null;
      if (!whole) await fh.truncate(size - unended.length);
      await fh.appendFile(`${unended.length > 0 && whole ? '\n' : ''}${JSON.stringify(c)}\n`);
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
      // The empty end, or a torn last line (a crash mid-append), is passed over: the line before it holds.
      const lines = (await readTail(fh, (await fh.stat()).size)).toString('utf8').split('\n');
      for (let i = lines.length - 1; i >= 0; i--) {
        const c = parseCheckpoint(lines[i]!);
        if (c) return c;
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

/** The file's last TAIL_BYTES. */
async function readTail(fh: FileHandle, size: number): Promise<Buffer> {
  const length = Math.min(size, TAIL_BYTES);
  const { buffer, bytesRead } = await fh.read(Buffer.alloc(length), 0, length, size - length);
  return buffer.subarray(0, bytesRead);
}

/** The checkpoint a line holds, or null when it holds none (empty, torn, not JSON). */
function parseCheckpoint(line: string): SignedCheckpoint | null {
  try {
    const c = JSON.parse(line) as SignedCheckpoint;
    return Number.isSafeInteger(c?.seq) ? c : null;
  } catch {
    return null;
  }
}
