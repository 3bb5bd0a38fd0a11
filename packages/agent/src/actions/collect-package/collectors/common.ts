import type { Stats } from 'node:fs';
import { parsePasswd, type PasswdEntry } from '../parsers/accounts.js';
import type { CollectContext } from '../types.js';

export const DEFAULT_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_BYTES = 50 * 1024 * 1024;
/** Executables larger than this are listed without a hash (hashing them would eat the time budget). */
export const MAX_HASH_BYTES = 256 * 1024 * 1024;

/** Accounts from /etc/passwd (empty when it is missing). */
export async function users(ctx: CollectContext): Promise<PasswdEntry[]> {
  return parsePasswd((await ctx.readText('/etc/passwd')) ?? '');
}

/** Each existing home directory once, with the account it belongs to. */
export async function homes(ctx: CollectContext): Promise<{ user: string; uid: number; home: string }[]> {
  const seen = new Set<string>();
  const out: { user: string; uid: number; home: string }[] = [];
  for (const u of await users(ctx)) {
    if (!u.home.startsWith('/') || u.home === '/' || seen.has(u.home)) continue;
    const st = await ctx.stat(u.home);
    if (!st?.isDirectory()) continue;
    seen.add(u.home);
    out.push({ user: u.user, uid: u.uid, home: u.home });
  }
  return out;
}

/**
 * Every path some package installed (dpkg's *.list files, or `rpm -qal`), so "not from a package"
 * can be answered. Paths are recorded with and without the /usr prefix, since merged-/usr systems
 * list /lib/... while the file is found under /usr/lib/... (or the reverse).
 */
export async function packageOwnedPaths(ctx: CollectContext): Promise<{ paths: Set<string>; manager: string } | null> {
  const paths = new Set<string>();
  const add = (p: string) => {
    paths.add(p);
    if (p.startsWith('/usr/')) paths.add(p.slice(4));
    else paths.add(`/usr${p}`);
  };
  const info = await ctx.readDir('/var/lib/dpkg/info');
  if (info) {
    for (const n of info) {
      if (!n.endsWith('.list')) continue;
      const text = await ctx.readText(`/var/lib/dpkg/info/${n}`);
      for (const l of (text ?? '').split('\n')) if (l) add(l);
    }
    return { paths, manager: 'dpkg' };
  }
  const r = await ctx.run('rpm', ['-qal']);
  if (r.code === 0) {
    for (const l of r.stdout.split('\n')) if (l.startsWith('/')) add(l);
    return { paths, manager: 'rpm' };
  }
  return null;
}

/** A file found while walking a directory tree. */
export interface WalkEntry {
  path: string;
  st: Stats;
}

/**
 * Walks a tree without following symbolic links or crossing into other file systems (a mount
 * point is listed, not entered; with `crossMounts` it is entered), depth- and count-bounded so a
 * huge or looping tree cannot eat the collector's budget; `pruned` says when a bound was hit and
 * `unreadable` counts directories that could not be listed. Paths are under the root's real
 * path (trusted links such as /var/run -> /run resolved); a root that is an untrusted link or not
 * a directory yields nothing. Entries are only lstat()ed: FIFOs, sockets and devices are listed
 * but never opened (callers read regular files only, and the context refuses anything else).
 */
export async function* walk(
  ctx: CollectContext,
  root: string,
  opts: { maxDepth: number; maxEntries: number; skip?: (path: string) => boolean; crossMounts?: boolean; state?: { count: number; pruned: boolean; unreadable?: number } },
): AsyncGenerator<WalkEntry> {
  const state = opts.state ?? { count: 0, pruned: false };
  const top = await ctx.realpath(root);
  const topSt = top === null ? null : await ctx.lstat(top);
  if (top === null || !topSt?.isDirectory()) return;
  const stack: [string, number][] = [[top, 0]];
  while (stack.length) {
    if (ctx.signal.aborted) return;
    const [dir, depth] = stack.pop()!;
    let names: string[] | null;
    try {
      // noFollow: the directory must be exactly where the walk found it (not swapped for a link).
      names = await ctx.readDir(dir, { noFollow: true });
    } catch {
      state.unreadable = (state.unreadable ?? 0) + 1;
      continue; // unreadable directory (EACCES): skip it, keep walking
    }
    const paths = (names ?? []).sort().map((n) => (dir === '/' ? `/${n}` : `${dir}/${n}`)).filter((p) => !opts.skip?.(p));
    // lstat a directory's entries a batch at a time: serial awaits made big trees slow.
    for (let i = 0; i < paths.length; i += 64) {
      const batch = paths.slice(i, i + 64);
      const stats = await Promise.all(batch.map((p) => ctx.lstat(p).catch(() => null)));
      for (const [k, path] of batch.entries()) {
        if (++state.count > opts.maxEntries) {
          state.pruned = true;
          return;
        }
        const st = stats[k];
        if (!st) continue;
        yield { path, st };
        // Descend into real directories of the root's file system only (not /proc under /, not a mount under /tmp), unless told to cross mounts.
        if (st.isDirectory() && (opts.crossMounts || st.dev === topSt.dev)) {
          if (depth + 1 < opts.maxDepth) stack.push([path, depth + 1]);
          else state.pruned = true;
        }
      }
    }
  }
}

/** Whether a regular file is a program: any execute bit, or an ELF / `#!` header. */
export async function isExecutable(ctx: CollectContext, path: string, st: Stats): Promise<boolean> {
  if (!st.isFile()) return false;
  if (st.mode & 0o111) return true;
  if (st.size < 4) return false;
  const head = await ctx.readRange(path, 0, 4).catch(() => null);
  return !!head && (head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) || head.subarray(0, 2).toString() === '#!');
}

/** SHA-256 of a file, or '' when it cannot be read or is too large to hash within budget. */
export async function hashOrBlank(ctx: CollectContext, path: string, size: number): Promise<string> {
  if (size > MAX_HASH_BYTES) return '';
  try {
    return await ctx.sha256(path);
  } catch {
    return '';
  }
}

/** Owner name of a uid, from a passwd-derived map. */
export function ownerName(byUid: Map<number, string>, uid: number): string {
  return byUid.get(uid) ?? String(uid);
}
