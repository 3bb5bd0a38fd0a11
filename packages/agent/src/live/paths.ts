import type { Stats } from 'node:fs';
import { parseGroup, parsePasswd } from '../actions/collect-package/parsers/accounts.js';
import type { SafeFiles } from '../platform/types.js';
import { CommandError, fsError } from './errors.js';

/**
 * What a path names, with a clear error when it cannot be reached. With `follow`, links root
 * controls are followed (/var/run -> /run) and a link a user could have planted is answered as the
 * link itself; without, the path's last component is never followed (lstat).
 */
export async function statPath(files: SafeFiles, path: string, opts: { follow: boolean }): Promise<Stats> {
  let st: Stats | null;
  try {
    st = opts.follow ? await files.stat(path) : await files.lstat(path);
  } catch (e) {
    throw fsError(e, path);
  }
  if (st) return st;
  throw new CommandError(await whyMissing(files, path));
}

/**
 * Safe file access answers "missing" both for a path that does not exist and for one reached
 * through a link a user could have planted: find which, from the top down.
 */
async function whyMissing(files: SafeFiles, path: string): Promise<string> {
  const parts = path.split('/').filter(Boolean);
  for (let i = 1; i < parts.length; i++) {
    const prefix = `/${parts.slice(0, i).join('/')}`;
    const st = await files.stat(prefix).catch(() => null);
    if (!st) break;
    if (st.isSymbolicLink()) {
      const target = await files.readlink(prefix);
      return `${path}: ${prefix} is a symbolic link${target ? ` to ${target}` : ''} a user could have planted; it is not followed`;
    }
    if (!st.isDirectory()) return `${path}: ${prefix} is not a directory`;
  }
  return `${path}: no such file or directory`;
}

/** User and group names by id, from /etc/passwd and /etc/group (the id itself when unknown). */
export async function accountNames(files: SafeFiles): Promise<{ user(uid: number): string; group(gid: number): string }> {
  const users = new Map(parsePasswd((await files.readText('/etc/passwd').catch(() => null)) ?? '').map((u) => [u.uid, u.user]));
  const groups = new Map(parseGroup((await files.readText('/etc/group').catch(() => null)) ?? '').map((g) => [g.gid, g.group]));
  return { user: (uid) => users.get(uid) ?? String(uid), group: (gid) => groups.get(gid) ?? String(gid) };
}
