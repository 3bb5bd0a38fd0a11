import { createHash, randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, rename, unlink, type FileHandle } from 'node:fs/promises';
import { CommandError, fsError } from './errors.js';
import { printable } from './format.js';
import type { CommandContext } from './types.js';

/*
 * Writing on the device for the commands that change it (putfile, run, remediate cron). The agent
 * runs as root and writes where users may have write access (a working directory in /tmp, a home),
 * so a directory is opened from / one component at a time through descriptors, never through a
 * symbolic link, and files are created in it by name through that descriptor (openat-style, via
 * /proc/self/fd/N/name) with O_EXCL | O_NOFOLLOW: no link planted at a path can redirect a write.
 */

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const O_CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Opens a regular file to read without following a link or blocking on a FIFO. */
export const O_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const CHUNK = 1024 * 1024;

/** A name inside an open directory, opened through the descriptor (what openat does in C). */
export const at = (dir: FileHandle, name: string): string => `/proc/self/fd/${dir.fd}/${name}`;

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/**
 * The directory a session path names, with the links root controls resolved (/var/run -> /run); a
 * path reached through a link a user could have planted is refused.
 */
export async function realDirectory(ctx: CommandContext, path: string): Promise<string> {
  const real = await ctx.files.realpath(path).catch((e: unknown) => {
    throw fsError(e, printable(path));
  });
  if (real === null) throw new CommandError(`${printable(path)}: no such directory, or reached through a link a user could have planted`);
  return real;
}

/** Opens a directory from / one component at a time, refusing a symbolic link (or anything not a directory) on the way. */
export async function openDirectory(path: string): Promise<FileHandle> {
  const parts = path.split('/').filter(Boolean);
  if (!path.startsWith('/') || parts.some((p) => p === '.' || p === '..')) throw new CommandError(`${printable(path)}: not an absolute path without . or ..`);
  let dir = await open('/', O_DIR);
  let here = '';
  try {
    for (const name of parts) {
      here += `/${name}`;
      let next: FileHandle;
      try {
        next = await open(at(dir, name), O_DIR);
      } catch (e) {
        if (errno(e) === 'ELOOP') throw new CommandError(`${printable(here)} is a symbolic link; it is not followed`);
        if (errno(e) === 'ENOTDIR') throw new CommandError(`${printable(here)} is not a directory`);
        throw fsError(e, printable(here));
      }
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (e) {
    await dir.close();
    throw e;
  }
}

/** A name for a temporary file next to `name` in the same directory (so a rename is atomic). */
export const tempName = (name: string, what: string): string => `.${name.slice(0, 100)}.cordon-${what}-${randomBytes(6).toString('hex')}`;

/** Creates `name` in `dir` (never there before, never a link), with `mode`; EEXIST says a file is in the way. */
export async function createNew(dir: FileHandle, name: string, mode: number): Promise<FileHandle> {
  const fh = await open(at(dir, name), O_CREATE, mode);
  // The umask may have taken bits away.
  await fh.chmod(mode);
  return fh;
}

/**
 * Copies the file at `src` (the agent's own: a verified library file) into a new file `name` of
 * `dir` with `mode`, hashing as it goes, and refuses (removing the copy) unless the bytes are
 * `sha256`: a library file replaced between its check and the copy is never used.
 */
export async function copyVerified(src: string, dir: FileHandle, name: string, opts: { mode: number; sha256: string; signal: AbortSignal; label: string }): Promise<{ size: number; sha256: string }> {
  const from = await open(src, O_READ);
  try {
    const st = await from.stat();
    if (!st.isFile()) throw new CommandError(`${opts.label}: the library's copy is not a regular file`);
    const to = await createNew(dir, name, opts.mode);
    let ok = false;
    try {
      const h = createHash('sha256');
      const buf = Buffer.allocUnsafe(CHUNK);
      let pos = 0;
      for (;;) {
        opts.signal.throwIfAborted();
        const { bytesRead } = await from.read(buf, 0, CHUNK, pos);
        if (bytesRead === 0) break;
        h.update(buf.subarray(0, bytesRead));
        for (let off = 0; off < bytesRead; ) off += (await to.write(buf, off, bytesRead - off, pos + off)).bytesWritten;
        pos += bytesRead;
      }
      await to.sync();
      const sha256 = h.digest('hex');
      if (sha256 !== opts.sha256) throw new CommandError(`${opts.label}: the library's copy has SHA-256 ${sha256}, not ${opts.sha256} as the command names; not used`);
      ok = true;
      return { size: pos, sha256 };
    } finally {
      await to.close();
      if (!ok) await unlink(at(dir, name)).catch(() => undefined);
    }
  } finally {
    await from.close();
  }
}

/** Same inode, size and change times: nothing changed the file since it was read. */
export const sameFile = (a: Stats, b: Stats): boolean => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ctimeMs === b.ctimeMs;

/**
 * Replaces the file `name` of `dir` with `bytes`, atomically: a new file is written next to it with
 * the old one's owner and mode, synced, and renamed over it, but only if `name` still names the
 * file that was read (`was`); otherwise nothing changes.
 */
export async function replaceFile(dir: FileHandle, name: string, bytes: Buffer, was: Stats, label: string): Promise<void> {
  const tmp = tempName(name, 'edit');
  const fh = await createNew(dir, tmp, 0o600);
  let renamed = false;
  try {
    await fh.writeFile(bytes);
    // Owner first: chown clears setuid and setgid, which the mode then sets again.
    await fh.chown(was.uid, was.gid);
    await fh.chmod(was.mode & 0o7777);
    await fh.sync();
    const now = await open(at(dir, name), O_READ).then(async (f) => {
      try {
        return await f.stat();
      } finally {
        await f.close();
      }
    });
    if (!sameFile(now, was)) throw new CommandError(`${label}: the file changed while it was being edited; nothing was changed`);
    await rename(at(dir, tmp), at(dir, name));
    renamed = true;
    await dir.sync().catch(() => undefined);
  } finally {
    await fh.close();
    if (!renamed) await unlink(at(dir, tmp)).catch(() => undefined);
  }
}

/** Reads a regular file of `dir` (never through a link, never a FIFO): its bytes and stat. */
export async function readRegular(dir: FileHandle, name: string, label: string): Promise<{ bytes: Buffer; st: Stats }> {
  let fh: FileHandle;
  try {
    fh = await open(at(dir, name), O_READ);
  } catch (e) {
    if (errno(e) === 'ELOOP') throw new CommandError(`${label}: a symbolic link; it is not followed`);
    throw fsError(e, label);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new CommandError(`${label}: not a regular file`);
    if (st.size > 64 * 1024 * 1024) throw new CommandError(`${label}: ${st.size} bytes is too large to edit`);
    return { bytes: await fh.readFile(), st };
  } finally {
    await fh.close();
  }
}

/** SHA-256 of a regular file of `dir`, streamed (never through a link, never a FIFO). */
export async function sha256Of(dir: FileHandle, name: string, label: string, signal: AbortSignal): Promise<string> {
  let fh: FileHandle;
  try {
    fh = await open(at(dir, name), O_READ);
  } catch (e) {
    if (errno(e) === 'ELOOP') throw new CommandError(`${label}: a symbolic link; it is not followed`);
    throw fsError(e, label);
  }
  try {
    if (!(await fh.stat()).isFile()) throw new CommandError(`${label}: not a regular file`);
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafe(CHUNK);
    for (let pos = 0; ; ) {
      signal.throwIfAborted();
      const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
      if (bytesRead === 0) break;
      h.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
    return h.digest('hex');
  } finally {
    await fh.close();
  }
}
