import { spawn } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { constants, type BigIntStats } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rmdir, statfs, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';

/*
 * The quarantine vault: `<dataDir>/quarantine/`, a directory only the agent (root) can read, one
 * item per quarantined file: `<id>/data` (the bytes, 0600) and `<id>/meta.json` (where it was, its
 * hashes, owner, mode and times). The agent runs as root and acts on paths users control, so:
 * - every path is walked from / one directory at a time through descriptors (openat-style, via
 *   /proc/self/fd/N/name), and any symbolic link on the way or at the end is refused: no link ever
 *   leads a move out of, or a restore into, a place the path does not name;
 * - a file is copied while it is hashed, and moved only when that hash is the one asked for and the
 *   file did not change meanwhile; its name is removed only while it still names that same inode;
 * - the item is written durably (fsync, rename, fsync of the directory) before the original is
 *   removed, so a crash leaves the file in both places, never in neither.
 * Linux only (it relies on /proc/self/fd), as the actions that use it.
 */

const O_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;
const O_READ = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const O_CREATE = constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
const CHUNK = 1024 * 1024;
/** Space the vault leaves free on its file system beyond the file it takes in. */
const RESERVE_BYTES = 64 * 1024 * 1024;
const ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A name inside an open directory, opened through the descriptor (what openat does in C). */
const at = (dir: FileHandle, name: string): string => `/proc/self/fd/${dir.fd}/${name}`;

/** The vault would not do what was asked, and why; nothing was changed. */
export class QuarantineRefused extends Error {
  readonly code = 'QUARANTINE_REFUSED';
  constructor(
    readonly path: string,
    readonly reason: string,
  ) {
    super(`${path}: ${reason}`);
    this.name = 'QuarantineRefused';
  }
}

/** The file (or vault item) is not there. */
export class QuarantineNotFound extends Error {
  readonly code = 'QUARANTINE_NOT_FOUND';
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
    this.name = 'QuarantineNotFound';
  }
}

export const KilledProcess = z.object({ pid: z.number().int(), commandLine: z.string() });
export type KilledProcess = z.infer<typeof KilledProcess>;

/** What the vault keeps about each file besides its bytes. */
export const QuarantineMeta = z.object({
  version: z.literal(1),
  quarantineId: z.string().regex(ID),
  path: z.string(),
  sha256: z.string(),
  sha1: z.string(),
  size: z.number().int().nonnegative(),
  uid: z.number().int(),
  gid: z.number().int(),
  /** Permission bits (with setuid, setgid and sticky). */
  mode: z.number().int(),
  /** Nanoseconds since the epoch, as text (beyond a double's precision). */
  atimeNs: z.string().regex(/^\d+$/),
  mtimeNs: z.string().regex(/^\d+$/),
  quarantinedAt: z.string(),
  actionId: z.string(),
  processesKilled: z.array(KilledProcess),
  /** The file's path no longer named it (deleted while running): its bytes were read from a running process. */
  fromProcess: z.boolean(),
});
export type QuarantineMeta = z.infer<typeof QuarantineMeta>;

export interface FileId {
  dev: number;
  ino: number;
}

/** Where the bytes to quarantine are. */
export type QuarantineSource =
  /** A file by its path: moved into the vault. */
  | { path: string }
  /** A file no path names any more (deleted while it runs), read through a kernel magic link; `file` is the inode expected there. */
  | { path: string; readVia: string; file: FileId };

export interface QuarantineOptions {
  actionId: string;
  /**
   * Called once the copy is in the vault and its hash checked, before the original is removed:
   * stops what uses the file (the processes running it). May refuse (QuarantineRefused).
   */
  stop?(file: FileId, path: string): Promise<KilledProcess[]>;
}

function checkedParts(path: string): string[] {
  const parts = path.split('/');
  if (!path.startsWith('/') || path.includes('\0') || parts.slice(1).some((p) => p === '' || p === '.' || p === '..')) {
    throw new QuarantineRefused(path, 'not an absolute path to a file without . or .. parts');
  }
  return parts.slice(1);
}

const errno = (e: unknown): string | undefined => (e as NodeJS.ErrnoException).code;

/**
 * Opens the directory that holds `path`, from / one component at a time through descriptors,
 * refusing a symbolic link (or anything not a directory) anywhere on the way.
 */
async function openParent(path: string): Promise<{ dir: FileHandle; name: string }> {
  const parts = checkedParts(path);
  let dir = await open('/', O_DIR);
  try {
    let here = '';
    for (const name of parts.slice(0, -1)) {
      here += `/${name}`;
      let next: FileHandle;
      try {
        next = await open(at(dir, name), O_DIR);
      } catch (e) {
        const st = await lstat(at(dir, name)).catch(() => null);
        if (!st) throw new QuarantineNotFound(path, `${here} does not exist`);
        if (st.isSymbolicLink()) throw new QuarantineRefused(path, `${here} is a symbolic link; links are never followed (give the path without links)`);
        if (!st.isDirectory()) throw new QuarantineRefused(path, `${here} is not a directory`);
        throw e;
      }
      await dir.close();
      dir = next;
    }
    return { dir, name: parts.at(-1)! };
  } catch (e) {
    await dir.close();
    throw e;
  }
}

/** Opens a file to read without following a link or blocking on a FIFO, and without touching its access time. */
async function openSource(dir: FileHandle, name: string, path: string): Promise<FileHandle> {
  try {
    return await open(at(dir, name), O_READ | constants.O_NOATIME).catch((e: unknown) => {
      // O_NOATIME needs the file's owner or CAP_FOWNER.
      if (errno(e) === 'EPERM') return open(at(dir, name), O_READ);
      throw e;
    });
  } catch (e) {
    if (errno(e) === 'ENOENT') throw new QuarantineNotFound(path, `${path} does not exist`);
    if (errno(e) === 'ELOOP') throw new QuarantineRefused(path, 'it is a symbolic link; links are never followed');
    throw e;
  }
}

/** Same inode, size and modification (content and inode) times: nothing changed the file. */
const unchanged = (a: BigIntStats, b: BigIntStats): boolean => a.dev === b.dev && a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs;

/** Copies `from` (from its start) into `to`, answering the bytes copied and their SHA-256 and SHA-1. */
async function copyHashing(from: FileHandle, to: FileHandle): Promise<{ size: number; sha256: string; sha1: string }> {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  const buf = Buffer.allocUnsafe(CHUNK);
  let pos = 0;
  for (;;) {
    const { bytesRead } = await from.read(buf, 0, CHUNK, pos);
    if (bytesRead === 0) break;
    const chunk = buf.subarray(0, bytesRead);
    sha256.update(chunk);
    sha1.update(chunk);
    for (let off = 0; off < bytesRead; ) off += (await to.write(chunk, off, bytesRead - off, pos + off)).bytesWritten;
    pos += bytesRead;
  }
  await to.sync();
  return { size: pos, sha256: sha256.digest('hex'), sha1: sha1.digest('hex') };
}

async function sha256Of(fh: FileHandle): Promise<string> {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(CHUNK);
  for (let pos = 0; ; ) {
    const { bytesRead } = await fh.read(buf, 0, CHUNK, pos);
    if (bytesRead === 0) break;
    h.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  return h.digest('hex');
}

async function syncDir(dir: FileHandle): Promise<void> {
  await dir.sync().catch(() => undefined);
}

/** Sets a file's access and modification times to the nanosecond (GNU touch on the descriptor); false when it could not. */
function setTimesNs(fh: FileHandle, which: '-a' | '-m', ns: string): Promise<boolean> {
  const stamp = `@${ns.slice(0, -9) || '0'}.${ns.slice(-9).padStart(9, '0')}`;
  return new Promise((resolve) => {
    // `touch -` sets the times of the file on its standard output: the descriptor, not a path.
    const child = spawn('touch', [which, '-d', stamp, '-'], { stdio: ['ignore', fh.fd, 'ignore'] });
    child.on('error', () => resolve(false));
    child.on('exit', (code) => resolve(code === 0));
  });
}

/** The agent's quarantine vault; open one per action and close it when done. */
export class QuarantineVault {
  private constructor(
    private readonly root: FileHandle,
    readonly path: string,
  ) {}

  /**
   * Opens `<dataDir>/quarantine`, making it (0700) when missing. Refused when it is a symbolic
   * link or not a directory, or when someone other than the agent owns it; a mode that lets
   * others in is tightened back to 0700.
   */
  static async open(dataDir: string): Promise<QuarantineVault> {
    const path = join(dataDir, 'quarantine');
    // mkdir never follows a link at its last component: a planted link makes it fail with EEXIST.
    await mkdir(path, { mode: 0o700 }).catch((e: unknown) => {
      if (errno(e) !== 'EEXIST') throw e;
    });
    let root: FileHandle;
    try {
      root = await open(path, O_DIR);
    } catch (e) {
      const st = await lstat(path).catch(() => null);
      if (st?.isSymbolicLink()) throw new QuarantineRefused(path, 'the quarantine vault is a symbolic link; it must be a directory only the agent can reach');
      if (st && !st.isDirectory()) throw new QuarantineRefused(path, 'the quarantine vault is not a directory');
      throw e;
    }
    try {
      const st = await root.stat();
      const uid = process.getuid?.() ?? 0;
      if (st.uid !== uid) throw new QuarantineRefused(path, `the quarantine vault is owned by uid ${st.uid}, not the agent (uid ${uid})`);
      if ((st.mode & 0o7777) !== 0o700) await root.chmod(0o700);
      return new QuarantineVault(root, path);
    } catch (e) {
      await root.close();
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.root.close();
  }

  /**
   * Moves a file into the vault: copies it while hashing, refuses unless its SHA-256 (or SHA-1) is
   * `expected` at that moment, lets `opts.stop` stop what runs it, stores the item durably, then
   * removes the original if its path still names the very file that was copied.
   */
  async quarantine(source: QuarantineSource, expected: { sha256?: string; sha1?: string }, opts: QuarantineOptions): Promise<QuarantineMeta> {
    const { path } = source;
    let parent: FileHandle | null = null;
    let name = '';
    let file: FileHandle;
    if ('readVia' in source) {
      // A magic link of /proc: following it is the point (no user chooses where it leads).
      file = await open(source.readVia, constants.O_RDONLY | constants.O_NONBLOCK).catch((e: unknown) => {
        throw errno(e) === 'ENOENT' ? new QuarantineNotFound(path, `the process that ran ${path} has ended`) : e;
      });
    } else {
      ({ dir: parent, name } = await openParent(path));
      file = await openSource(parent, name, path).catch(async (e: unknown) => {
        await parent!.close();
        throw e;
      });
    }
    const id = randomUUID();
    const part = `.${id}.part`;
    let committed = false;
    try {
      const before = await file.stat({ bigint: true });
      if (!before.isFile()) throw new QuarantineRefused(path, 'not a regular file');
      if ('readVia' in source && (Number(before.dev) !== source.file.dev || Number(before.ino) !== source.file.ino)) throw new QuarantineNotFound(path, `the process that ran ${path} has ended`);
      await this.#ensureRoom(path, Number(before.size));

      await mkdir(at(this.root, part), { mode: 0o700 });
      const item = await open(at(this.root, part), O_DIR);
      try {
        const data = await open(at(item, 'data'), O_CREATE, 0o600);
        let copied: Awaited<ReturnType<typeof copyHashing>>;
        try {
          copied = await copyHashing(file, data);
        } finally {
          await data.close();
        }
        if (!unchanged(before, await file.stat({ bigint: true }))) throw new QuarantineRefused(path, 'the file changed while it was being copied; it was left where it is');
        const wanted = [
          ['SHA-256', expected.sha256, copied.sha256],
          ['SHA-1', expected.sha1, copied.sha1],
        ] as const;
        if (!expected.sha256 && !expected.sha1) throw new QuarantineRefused(path, 'no hash to check it against');
        for (const [kind, want, got] of wanted) {
          if (want && want.toLowerCase() !== got) throw new QuarantineRefused(path, `its ${kind} is ${got}, not ${want.toLowerCase()}: the file changed or is another file; it was left where it is`);
        }

        const killed = opts.stop ? await opts.stop({ dev: Number(before.dev), ino: Number(before.ino) }, path) : [];
        const meta: QuarantineMeta = {
          version: 1,
          quarantineId: id,
          path,
          sha256: copied.sha256,
          sha1: copied.sha1,
          size: copied.size,
          uid: Number(before.uid),
          gid: Number(before.gid),
          mode: Number(before.mode) & 0o7777,
          atimeNs: before.atimeNs.toString(),
          mtimeNs: before.mtimeNs.toString(),
          quarantinedAt: new Date().toISOString(),
          actionId: opts.actionId,
          processesKilled: killed,
          fromProcess: 'readVia' in source,
        };
        const metaFile = await open(at(item, 'meta.json'), O_CREATE, 0o600);
        try {
          await metaFile.writeFile(JSON.stringify(meta, null, 2));
          await metaFile.sync();
        } finally {
          await metaFile.close();
        }
        await syncDir(item);
        if (parent && !unchanged(before, await file.stat({ bigint: true }))) throw new QuarantineRefused(path, 'the file changed while it was being quarantined; it was left where it is');
        await rename(at(this.root, part), at(this.root, id));
        committed = true;
        await syncDir(this.root);
        if (parent) await this.#removeOriginal(parent, name, path, before, id);
        return meta;
      } finally {
        await item.close();
      }
    } catch (e) {
      await this.#removeItem(committed ? id : part);
      throw e;
    } finally {
      await file.close();
      await parent?.close();
    }
  }

  /**
   * Removes the file's name, but only while it names the inode that was copied: the name is first
   * moved aside (an atomic rename), checked, then unlinked; anything else found there is put back.
   */
  async #removeOriginal(parent: FileHandle, name: string, path: string, copied: BigIntStats, id: string): Promise<void> {
    const aside = `.cordon-quarantine-${id}`;
    try {
      await rename(at(parent, name), at(parent, aside));
    } catch (e) {
      throw new QuarantineRefused(path, `it could not be removed (${errno(e) ?? (e as Error).message}); it was left where it is`);
    }
    const st = await lstat(at(parent, aside), { bigint: true });
    if (st.dev !== copied.dev || st.ino !== copied.ino) {
      // Another file took the name between the copy and now: it goes back under its name.
      await link(at(parent, aside), at(parent, name)).then(() => unlink(at(parent, aside))).catch(() => undefined);
      throw new QuarantineRefused(path, 'another file took its place while it was being quarantined; that file was left where it is');
    }
    await unlink(at(parent, aside));
    await syncDir(parent);
  }

  async #ensureRoom(path: string, size: number): Promise<void> {
    const fs = await statfs(at(this.root, '.')).catch(() => null);
    if (!fs) return;
    const free = fs.bavail * fs.bsize;
    if (free < size + RESERVE_BYTES) throw new QuarantineRefused(path, `the quarantine vault's file system has ${free} bytes free; the file needs ${size} (and ${RESERVE_BYTES} are kept free)`);
  }

  /** Deletes an item's files and directory (an unfinished one, or a restored one); never fails. */
  async #removeItem(name: string): Promise<void> {
    for (const f of ['data', 'meta.json']) await unlink(at(this.root, `${name}/${f}`)).catch(() => undefined);
    await rmdir(at(this.root, name)).catch(() => undefined);
    await syncDir(this.root);
  }

  /** The metadata of one item; QuarantineNotFound when the vault has no such item. */
  async get(id: string): Promise<QuarantineMeta> {
    if (!ID.test(id)) throw new QuarantineNotFound(id, `'${id}' is not a quarantine id`);
    let item: FileHandle;
    try {
      item = await open(at(this.root, id), O_DIR);
    } catch (e) {
      if (errno(e) === 'ENOENT') throw new QuarantineNotFound(id, `no quarantined file ${id} on this device (it was restored, or never quarantined here)`);
      throw e;
    }
    try {
      const fh = await open(at(item, 'meta.json'), O_READ);
      try {
        return QuarantineMeta.parse(JSON.parse(await fh.readFile('utf8')));
      } finally {
        await fh.close();
      }
    } finally {
      await item.close();
    }
  }

  /** Every item in the vault, oldest first; an unreadable one is left out. */
  async list(): Promise<QuarantineMeta[]> {
    const names = (await readdir(at(this.root, '.'))).filter((n) => ID.test(n));
    const out: QuarantineMeta[] = [];
    for (const n of names) out.push(...(await this.get(n).then((m) => [m]).catch(() => [])));
    return out.sort((a, b) => a.quarantinedAt.localeCompare(b.quarantinedAt));
  }

  /**
   * Puts a file back where it was: refused when anything (a file, a link) is at its path now or a
   * directory on the way is a link or missing. The file is created new (never through a link),
   * written, checked against its SHA-256, then given its owner, mode and times; the vault item is
   * removed once the file is durably back.
   */
  async restore(id: string): Promise<QuarantineMeta> {
    const meta = await this.get(id);
    const { path } = meta;
    const item = await open(at(this.root, id), O_DIR);
    let parent: FileHandle | null = null;
    try {
      const data = await open(at(item, 'data'), O_READ);
      try {
        let opened: { dir: FileHandle; name: string };
        try {
          opened = await openParent(path);
        } catch (e) {
          if (e instanceof QuarantineNotFound) throw new QuarantineRefused(path, `${e.message}: its folder must exist to restore it`);
          throw e;
        }
        parent = opened.dir;
        let out: FileHandle;
        try {
          out = await open(at(parent, opened.name), O_CREATE, 0o600);
        } catch (e) {
          if (errno(e) === 'EEXIST') throw new QuarantineRefused(path, 'a file (or link) is at that path now; move it away first, then restore');
          throw e;
        }
        try {
          await copyHashing(data, out);
          // What is on disk now, read back: the bytes that went in.
          const written = await sha256Of(out);
          if (written !== meta.sha256) throw new QuarantineRefused(path, `the restored file's SHA-256 is ${written}, not ${meta.sha256}; it was removed again and the vault item kept`);
          // Owner first: chown clears setuid and setgid, which the mode then sets again.
          await out.chown(meta.uid, meta.gid);
          await out.chmod(meta.mode);
          const seconds = (ns: string) => Number(BigInt(ns) / 1000n) / 1e6;
          await out.utimes(seconds(meta.atimeNs), seconds(meta.mtimeNs));
          await setTimesNs(out, '-a', meta.atimeNs);
          await setTimesNs(out, '-m', meta.mtimeNs);
          await out.sync();
        } catch (e) {
          // Removes what this restore created, and only that (the name may have been swapped meanwhile).
          const [mine, there] = await Promise.all([out.stat(), lstat(at(parent, opened.name)).catch(() => null)]);
          if (there && there.dev === mine.dev && there.ino === mine.ino) await unlink(at(parent, opened.name)).catch(() => undefined);
          throw e;
        } finally {
          await out.close();
        }
        await syncDir(parent);
      } finally {
        await data.close();
      }
    } finally {
      await item.close();
      await parent?.close();
    }
    // The file is back for good: the item goes (moved aside first, so a crash never leaves half an item under its id).
    const gone = `.${id}.restored`;
    await rename(at(this.root, id), at(this.root, gone));
    await this.#removeItem(gone);
    return meta;
  }
}
