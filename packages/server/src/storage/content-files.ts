import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ContentKind, ContentManifest } from '@cordon/protocol';
import { StorageFullError } from './file-store.js';

/** A file staged from a stream: its id for `place` or `discard`, and what was written. */
export interface StagedFile {
  id: string;
  sha256: string;
  size: number;
}

/** The stream held more than the bytes allowed: nothing was kept. */
export class StagedTooLargeError extends Error {
  constructor(readonly maxBytes: number) {
    super(`more than ${maxBytes} bytes`);
  }
}

const FILE = /^v\d{1,16}\.bin$/;
const STAGED = /^[0-9a-f-]{36}\.part$/;

/** Syncs a directory, so a rename or a new entry in it survives a crash. */
async function syncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Published content on local disk: `<dir>/<kind>/<name>/v<version>.bin`, staged first as
 * `<dir>/.staging/<uuid>.part` (written, fsync'd) and renamed into place, so a version's file is
 * either absent or whole. Kind, name and file are checked here too: nothing from outside the
 * allowed alphabet ever becomes a path.
 */
export class ContentFiles {
  constructor(private readonly dir: string) {}

  async init(): Promise<void> {
    await mkdir(join(this.dir, '.staging'), { recursive: true, mode: 0o700 });
  }

  #folder(kind: string, name: string): string {
    if (!ContentKind.safeParse(kind).success) throw new Error(`not a content kind: ${kind}`);
    if (!ContentManifest.shape.name.safeParse(name).success) throw new Error(`not a content name: ${name}`);
    return join(this.dir, kind, name);
  }

  #path(kind: string, name: string, file: string): string {
    if (!FILE.test(file)) throw new Error(`not a content file name: ${file}`);
    return join(this.#folder(kind, name), file);
  }

  #staged(id: string): string {
    if (!STAGED.test(id)) throw new Error(`not a staged content file: ${id}`);
    return join(this.dir, '.staging', id);
  }

  /** Writes `bytes` to a new staging file, durably; answers its id for `place` or `discard`. */
  async stage(bytes: Uint8Array): Promise<string> {
    const id = `${randomUUID()}.part`;
    const fh = await open(this.#staged(id), 'wx', 0o600);
    try {
      await fh.writeFile(bytes);
      await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(this.#staged(id), { force: true });
      throw e;
    }
    await fh.close();
    return id;
  }

  /**
   * Writes what `source` yields to a new staging file, durably, hashing it on the way: the bytes
   * pass through once and are never all held in memory. More than `maxBytes` stops the reading and
   * removes the file (StagedTooLargeError); so does a full disk (StorageFullError) or any failure.
   */
  async stageStream(source: AsyncIterable<Uint8Array>, maxBytes: number): Promise<StagedFile> {
    const id = `${randomUUID()}.part`;
    const path = this.#staged(id);
    const fh = await open(path, 'wx', 0o600);
    const hash = createHash('sha256');
    let size = 0;
    try {
      for await (const chunk of source) {
        size += chunk.length;
        if (size > maxBytes) throw new StagedTooLargeError(maxBytes);
        hash.update(chunk);
        for (let done = 0; done < chunk.length; ) done += (await fh.write(chunk, done)).bytesWritten;
      }
      await fh.sync();
    } catch (e) {
      await fh.close();
      await rm(path, { force: true });
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new StorageFullError('The server has no space left for content files');
      throw e;
    }
    await fh.close();
    return { id, sha256: hash.digest('hex'), size };
  }

  /** A staged file's bytes, whole (for checks that need them all at once). */
  async readStaged(id: string): Promise<Buffer> {
    return readFile(this.#staged(id));
  }

  /** Moves a staged file into place as `file` of kind + name (replacing a leftover of a failed try). */
  async place(id: string, kind: string, name: string, file: string): Promise<void> {
    const target = this.#path(kind, name, file);
    const folder = this.#folder(kind, name);
    await mkdir(folder, { recursive: true, mode: 0o700 });
    await rename(this.#staged(id), target);
    await syncDir(folder);
  }

  async discard(id: string): Promise<void> {
    await rm(this.#staged(id), { force: true });
  }

  /** A placed file's size, or null when it is not there. */
  async size(kind: string, name: string, file: string): Promise<number | null> {
    try {
      return (await stat(this.#path(kind, name, file))).size;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  /** Reads a placed file from byte `start` to its end. */
  read(kind: string, name: string, file: string, start = 0): ReadStream {
    return createReadStream(this.#path(kind, name, file), { start });
  }
}
