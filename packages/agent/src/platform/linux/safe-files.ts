import { createHash } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { dirname, isAbsolute, posix } from 'node:path';
import { Readable } from 'node:stream';
import type { OpenOptions, SafeFiles } from '../types.js';

/**
 * The agent runs as root and reads files in places unprivileged users control (homes, temp
 * directories). Every file access here therefore:
 * - opens with O_NOFOLLOW | O_NONBLOCK and fstat()s the descriptor: only regular files are read
 *   (a FIFO, socket or device is never read, and opening one never blocks);
 * - checks where the descriptor really points (/proc/self/fd/N): a path may pass only through
 *   symbolic links that root owns in a directory only root can change (/proc/self, /etc/resolv.conf
 *   -> /run/...); a link a user could have planted (~/.bash_history -> /etc/shadow,
 *   ~/.config/autostart -> /etc) is never followed;
 * - in a directory a user controls (owned by that user, or group/world-writable like /tmp),
 *   reads a file only when that user or root owns it and it has no second hard link there.
 */

/** Largest file readFile/readText load into memory; larger ones are read up to this size. */
export const MAX_READ_BYTES = 64 * 1024 * 1024;
const CHUNK = 64 * 1024;
const MAX_LINKS = 40;

const O_SAFE = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const O_DIR = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_DIRECTORY;

/** A file or directory safe file access refuses to read (planted link, FIFO, foreign owner). */
export class UnsafePathError extends Error {
  readonly code = 'UNSAFE_PATH';
  constructor(path: string, why: string) {
    super(`refused to read ${path}: ${why}`);
    this.name = 'UnsafePathError';
  }
}

function absolute(path: string): string {
  // Callers name the files they read; a relative path would depend on the agent's cwd.
  if (!isAbsolute(path)) throw new Error(`safe file access takes absolute paths only, not '${path}'`);
  return posix.normalize(path).replace(/(.)\/+$/, '$1');
}

function missing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (missing(e)) return null;
    throw e;
  }
}

/** Whether users other than root can add, remove or replace entries of a directory. */
function userControlled(dir: Stats): boolean {
  return dir.uid !== 0 || (dir.mode & 0o022) !== 0;
}

/** A symbolic link is followed only when root owns it and no other user can replace it. */
function trustedLink(link: Stats, parent: Stats): boolean {
  return link.uid === 0 && parent.uid === 0 && ((parent.mode & 0o022) === 0 || (parent.mode & 0o1000) !== 0);
}

/**
 * Resolves `path` component by component, following only trusted symbolic links (see above).
 * Throws UnsafePathError at a link a user could have planted, ENOENT when a component is missing.
 * With `keepLast`, the last component is not followed (lstat semantics).
 */
export async function resolveTrusted(path: string, opts: { keepLast?: boolean } = {}): Promise<string> {
  let todo = absolute(path).split('/').filter(Boolean);
  let done = '';
  let links = 0;
  let parentSt = await lstat('/');
  while (todo.length) {
    const name = todo.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      done = done ? dirname(done) : '';
      if (done === '/') done = '';
      parentSt = await lstat(done || '/');
      continue;
    }
    const next = `${done}/${name}`;
    const st = await lstat(next);
    if (st.isSymbolicLink() && !(opts.keepLast && todo.length === 0)) {
      if (!trustedLink(st, parentSt)) throw new UnsafePathError(path, `${next} is a symbolic link owned by uid ${st.uid} in a directory users control; it is not followed`);
      if (++links > MAX_LINKS) throw Object.assign(new Error(`too many symbolic links in ${path}`), { code: 'ELOOP' });
      const target = await readlink(next);
      todo = [...target.split('/').filter(Boolean), ...todo];
      if (target.startsWith('/')) {
        done = '';
        parentSt = await lstat('/');
      }
      continue;
    }
    if (todo.length && !st.isDirectory()) throw Object.assign(new Error(`not a directory: ${next}`), { code: 'ENOTDIR' });
    done = next;
    parentSt = st;
  }
  return done || '/';
}

/** Where an open descriptor really points, or null when /proc is not mounted. */
async function fdPath(fh: FileHandle): Promise<string | null> {
  try {
    return await readlink(`/proc/self/fd/${fh.fd}`);
  } catch {
    return null;
  }
}

/**
 * Opens a path (file or, with `dir`, directory) without following any link a user could have
 * planted, and returns the descriptor with its real path. `trustLinks` follows every link: only
 * for kernel magic links such as /proc/<pid>/exe, whose target no user can choose freely.
 */
async function openChecked(path: string, opts: { dir?: boolean; trustLinks?: boolean; exact?: boolean } = {}): Promise<{ fh: FileHandle; real: string }> {
  const p = absolute(path);
  const flags = opts.dir ? O_DIR : O_SAFE;
  if (opts.trustLinks) {
    const fh = await open(p, flags & ~constants.O_NOFOLLOW);
    return { fh, real: (await fdPath(fh)) ?? p };
  }
  let fh: FileHandle;
  let expected: string | null = null;
  try {
    fh = await open(p, flags);
  } catch (e) {
    // O_NOFOLLOW: the last component is a link. Follow it only when root planted it.
    if ((e as NodeJS.ErrnoException).code !== 'ELOOP' || opts.exact) {
      if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new UnsafePathError(p, 'it is a symbolic link');
      throw e;
    }
    expected = await resolveTrusted(p);
    fh = await open(expected, flags);
  }
  try {
    const real = await fdPath(fh);
    if (real === null) {
      // No /proc: fall back to resolving the path (a race with a rename remains possible).
      if (expected === null && (await resolveTrusted(p)) !== p && opts.exact) throw new UnsafePathError(p, 'the path passes through a symbolic link');
      return { fh, real: expected ?? p };
    }
    if (real !== p) {
      // Some directory on the way is a link (or was swapped for one): allowed only through trusted links.
      if (opts.exact) throw new UnsafePathError(p, `it resolves to ${real} through a symbolic link`);
      expected ??= await resolveTrusted(p);
      if (real !== expected) throw new UnsafePathError(p, `it resolves to ${real}, not ${expected}`);
    }
    return { fh, real };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** Opens a regular file for reading after every check above; the caller closes it. */
export async function openRegular(path: string, opts: { trustLinks?: boolean } = {}): Promise<{ fh: FileHandle; st: Stats; real: string }> {
  const { fh, real } = await openChecked(path, opts);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new UnsafePathError(path, `it is not a regular file (${st.isFIFO() ? 'FIFO' : st.isSocket() ? 'socket' : st.isCharacterDevice() || st.isBlockDevice() ? 'device' : st.isDirectory() ? 'directory' : 'special file'})`);
    if (!opts.trustLinks) {
      const parent = await lstat(dirname(real));
      if (userControlled(parent)) {
        if (parent.uid !== 0 && st.uid !== parent.uid && st.uid !== 0) throw new UnsafePathError(path, `its owner (uid ${st.uid}) is neither root nor the owner of ${dirname(real)} (uid ${parent.uid})`);
        // A second hard link in a place users control may be another user's (or root's) file linked in.
        if (st.nlink > 1 && st.uid !== parent.uid) throw new UnsafePathError(path, `it has ${st.nlink} hard links and uid ${st.uid} in a directory users control`);
      }
    }
    return { fh, st, real };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** Reads up to `length` bytes at `offset` from an open file (fewer at its end). */
async function readAt(fh: FileHandle, offset: number, length: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  while (got < length) {
    const want = Math.min(CHUNK * 16, length - got);
    const buf = Buffer.allocUnsafe(want);
    const { bytesRead } = await fh.read(buf, 0, want, offset + got);
    if (bytesRead === 0) break;
    chunks.push(buf.subarray(0, bytesRead));
    got += bytesRead;
  }
  return Buffer.concat(chunks, got);
}

export async function readRegular(path: string, offset: number, length: number, opts?: { trustLinks?: boolean }): Promise<Buffer> {
  const { fh } = await openRegular(path, opts);
  try {
    return await readAt(fh, offset, length);
  } finally {
    await fh.close();
  }
}

/**
 * A regular file's bytes (from `start`, at most `length`), opened safely on first read, in pieces
 * of `readBytes`: each in a fresh buffer, or with `reuse` all in one (a piece is then valid only
 * until the next is asked for).
 */
async function* filePieces(path: string, opts: OpenOptions, reuse: boolean): AsyncGenerator<Buffer> {
  const { fh } = await openRegular(path, opts);
  try {
    let pos = opts.start ?? 0;
    const end = opts.length === undefined ? Infinity : pos + opts.length;
    let shared: Buffer | undefined;
    while (pos < end) {
      const want = Math.min(opts.readBytes ?? CHUNK, end - pos);
      const buf = reuse ? (shared ??= Buffer.allocUnsafe(opts.readBytes ?? CHUNK)) : Buffer.allocUnsafe(want);
      const { bytesRead } = await fh.read(buf, 0, want, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
      yield buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}

/** A stream of a regular file's bytes (from `start`, at most `length`), opened safely on first read. */
export function fileStream(path: string, opts: OpenOptions = {}): Readable {
  return Readable.from(filePieces(path, opts, false), { objectMode: false });
}

/**
 * Safe file access (the SafeFiles of the platform) with every check above. Each instance caches
 * the directories it resolved, so a tree walk costs one lstat per directory; make one per task.
 */
export function createSafeFiles(): SafeFiles {
  // Directories whose path was already resolved (lstat of many entries of one directory).
  const parents = new Map<string, Promise<string>>();
  const resolvedParent = (dir: string): Promise<string> => {
    let r = parents.get(dir);
    if (!r) {
      if (parents.size > 4096) parents.clear();
      // One lstat per directory: its parent's resolution is cached too (a walk goes down one level at a time).
      r =
        dir === '/'
          ? Promise.resolve('/')
          : resolvedParent(dirname(dir)).then(async (up) => {
              const p = `${up === '/' ? '' : up}/${posix.basename(dir)}`;
              const st = await lstat(p);
              if (st.isSymbolicLink()) return resolveTrusted(p);
              if (!st.isDirectory()) throw Object.assign(new Error(`not a directory: ${p}`), { code: 'ENOTDIR' });
              return p;
            });
      parents.set(dir, r);
    }
    return r;
  };
  /** lstat of the entry itself, reached only through trusted links; null when missing or unsafe. */
  const safeLstat = async (path: string): Promise<Stats | null> => {
    const p = absolute(path);
    if (p === '/') return lstat('/');
    let parent: string;
    try {
      parent = await resolvedParent(dirname(p));
    } catch (e) {
      if (e instanceof UnsafePathError || missing(e)) return null;
      throw e;
    }
    return orNull(lstat(`${parent === '/' ? '' : parent}/${posix.basename(p)}`));
  };
  return {
    readFile: (path) => orNull(readRegular(path, 0, MAX_READ_BYTES)),
    readText: async (path) => (await orNull(readRegular(path, 0, MAX_READ_BYTES)))?.toString('utf8') ?? null,
    readRange: (path, offset, length) => orNull(readRegular(path, offset, length)),
    openFile: (path, o) => fileStream(path, o),
    readPieces: (path, o = {}) => filePieces(path, o, true),
    readDir: async (path, o = {}) => {
      let opened: { fh: FileHandle; real: string };
      try {
        opened = await openChecked(path, { dir: true, exact: o.noFollow });
      } catch (e) {
        // A planted link is not a directory of the device: the caller lists it as a link, if at all.
        if (e instanceof UnsafePathError || missing(e)) return null;
        throw e;
      }
      try {
        // Reading through the descriptor lists exactly the directory that was checked.
        return await readdir(`/proc/self/fd/${opened.fh.fd}`).catch(() => readdir(opened.real));
      } finally {
        await opened.fh.close();
      }
    },
    lstat: safeLstat,
    stat: async (path, o = {}) => {
      if (o.trustLinks) {
        try {
          const { fh } = await openChecked(path, { trustLinks: true });
          try {
            return await fh.stat();
          } finally {
            await fh.close();
          }
        } catch (e) {
          if (missing(e)) return null;
          throw e;
        }
      }
      try {
        return await lstat(await resolveTrusted(path));
      } catch (e) {
        // An untrusted link is reported as what it is: a link, not what it points at.
        if (e instanceof UnsafePathError) return safeLstat(path);
        if (missing(e)) return null;
        throw e;
      }
    },
    realpath: async (path) => {
      try {
        return await resolveTrusted(path);
      } catch (e) {
        if (e instanceof UnsafePathError || missing(e)) return null;
        throw e;
      }
    },
    readlink: async (path) => {
      try {
        return await readlink(absolute(path));
      } catch {
        return null;
      }
    },
    sha256: async (path, o) => {
      const hash = createHash('sha256');
      for await (const c of fileStream(path, o)) hash.update(c as Buffer);
      return hash.digest('hex');
    },
  };
}
