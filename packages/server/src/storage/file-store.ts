import { createHash } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

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

  /** Writes `chunk` at `offset` if that is the current end, durably; answers the end either way. */
  async append(id: string, offset: number, chunk: Buffer): Promise<{ written: boolean; end: number }> {
    const fh = await open(this.#path(id, 'part'), 'a+', 0o600);
    try {
      const { size } = await fh.stat();
      if (size !== offset) return { written: false, end: size };
      try {
        await fh.write(chunk, 0, chunk.length, offset);
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

  async finish(id: string): Promise<void> {
    await rename(this.#path(id, 'part'), this.#path(id, 'zip'));
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
