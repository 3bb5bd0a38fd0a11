import { createHash } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { constants } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import yauzl from 'yauzl';

/** A stored file's name: action ids only, so no path from outside ever reaches the file system. */
const NAME = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export class StorageFullError extends Error {}

/**
 * Package files on local disk: `<dir>/<id>.part` while an upload is in progress, `<dir>/<id>.zip`
 * once its SHA-256 checked out. Appends are fsync'd, so an acknowledged offset survives a crash.
 */
export class FileStore {
  constructor(private readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
  }

  #path(id: string, kind: 'part' | 'zip'): string {
    if (!NAME.test(id)) throw new Error(`not a stored file name: ${id}`);
    return join(this.dir, `${id}.${kind}`);
  }

  /** Bytes received so far for an upload (0 when none started). */
  async partSize(id: string): Promise<number> {
    try {
      return (await stat(this.#path(id, 'part'))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
  }

  /**
   * Writes `chunk` at `offset` if that is the current end, durably; answers the end either way.
   * Callers serialise appends per file (see PackagesService): the size check and the write are
   * not atomic on their own.
   */
  async append(id: string, offset: number, chunk: Buffer): Promise<{ written: boolean; end: number }> {
    // Not O_APPEND: the write goes exactly where the offset says.
    const fh = await open(this.#path(id, 'part'), constants.O_RDWR | constants.O_CREAT, 0o600);
    try {
      const { size } = await fh.stat();
      if (size !== offset) return { written: false, end: size };
      try {
        // A short write (a nearly full disk) is continued, and a write that makes no progress is a full disk.
        for (let done = 0; done < chunk.length; ) {
          const { bytesWritten } = await fh.write(chunk, done, chunk.length - done, offset + done);
          if (bytesWritten <= 0) throw Object.assign(new Error('no progress writing the chunk'), { code: 'ENOSPC' });
          done += bytesWritten;
        }
        await fh.sync();
      } catch (e) {
        // A partial write must not become part of the file: cut back to the acknowledged end.
        await fh.truncate(offset).catch(() => undefined);
        if ((e as NodeJS.ErrnoException).code === 'ENOSPC' || (e as NodeJS.ErrnoException).code === 'EDQUOT') throw new StorageFullError('The server has no space left for package files');
        throw e;
      }
      return { written: true, end: offset + chunk.length };
    } finally {
      await fh.close();
    }
  }

  async sha256(id: string, kind: 'part' | 'zip' = 'part'): Promise<{ sha256: string; size: number }> {
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(this.#path(id, kind)) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    return { sha256: hash.digest('hex'), size };
  }

  /** Keeps a verified upload: the rename, then the directory synced so the rename survives a crash. */
  async finish(id: string): Promise<void> {
    await rename(this.#path(id, 'part'), this.#path(id, 'zip'));
    const dir = await open(this.dir, 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }

  /** Bytes an unprivileged writer may still use on the file system holding the files. */
  async freeBytes(): Promise<number> {
    const st = await statfs(this.dir);
    return st.bavail * st.bsize;
  }

  /**
   * Whether a stored file is a zip: its end record found and every central directory entry read
   * (yauzl, the reader of the library the agent writes packages with). Nothing is decompressed,
   * so a package of any size is checked in moments.
   */
  checkZip(id: string, kind: 'part' | 'zip'): Promise<{ zip: true; entries: number } | { zip: false; reason: string }> {
    return new Promise((resolve) => {
      yauzl.open(this.#path(id, kind), { lazyEntries: true, autoClose: true }, (err, zip) => {
        if (err) return resolve({ zip: false, reason: err.message });
        let entries = 0;
        zip.on('entry', () => {
          entries++;
          zip.readEntry();
        });
        zip.on('end', () => resolve({ zip: true, entries }));
        zip.on('error', (e: Error) => resolve({ zip: false, reason: e.message }));
        zip.readEntry();
      });
    });
  }

  async hasZip(id: string): Promise<boolean> {
    try {
      await stat(this.#path(id, 'zip'));
      return true;
    } catch {
      return false;
    }
  }

  /** Unfinished uploads: their action ids and when they last changed. */
  async parts(): Promise<{ id: string; modifiedMs: number }[]> {
    const out: { id: string; modifiedMs: number }[] = [];
    for (const name of await readdir(this.dir)) {
      const m = /^(.+)\.part$/.exec(name);
      if (!m || !NAME.test(m[1]!)) continue;
      try {
        out.push({ id: m[1]!, modifiedMs: (await stat(join(this.dir, name))).mtimeMs });
      } catch {
        // Finished or removed meanwhile.
      }
    }
    return out;
  }

  async discardPart(id: string): Promise<void> {
    await rm(this.#path(id, 'part'), { force: true });
  }

  async remove(id: string): Promise<void> {
    await rm(this.#path(id, 'zip'), { force: true });
  }

  read(id: string): ReadStream {
    return createReadStream(this.#path(id, 'zip'));
  }
}
