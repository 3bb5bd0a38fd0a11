import type { Stats } from 'node:fs';
import { parseArgs } from '../args.js';
import { CommandError, fsError } from '../errors.js';
import { fileType, isoTime, modeString, printable, table } from '../format.js';
import { accountNames, statPath } from '../paths.js';
import type { LiveCommand } from '../types.js';

/** One entry of a listing, as the API gives it. */
export interface ListedEntry {
  name: string;
  type: string;
  mode: string;
  uid: number;
  user: string;
  gid: number;
  group: string;
  size: number;
  modified: string;
  /** Where a symbolic link points (never followed). */
  target?: string;
}

/** Entries lstat()ed at once: serial awaits are slow on big directories, unbounded ones flood the thread pool. */
const BATCH = 64;

const byBytes = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * `ls`: a directory's entries (or one file), names only or with -l type, mode, owner, size and
 * modification time. Entries are lstat()ed: a symbolic link is shown with its target, never
 * followed; FIFOs, sockets and devices are never opened.
 */
export const ls: LiveCommand = {
  name: 'ls',
  summary: 'List a directory (-l: type, mode, owner, size, time; -a: names starting with a dot too)',
  usage: 'ls [-l] [-a] [path]',
  level: 'basic',
  async run(args, ctx) {
    const { flags, operands } = parseArgs(this, args, { flags: 'la', maxOperands: 1 });
    const path = operands[0] === undefined ? ctx.session.cwd : ctx.resolve(operands[0]);
    const st = await statPath(ctx.files, path, { follow: true });
    let found: { name: string; path: string; st: Stats }[];
    if (st.isDirectory()) {
      let names: string[] | null;
      try {
        names = await ctx.files.readDir(path);
      } catch (e) {
        throw fsError(e, path);
      }
      if (names === null) throw new CommandError(`${printable(path)}: no such file or directory`);
      names = names.filter((n) => flags.has('a') || !n.startsWith('.')).sort(byBytes);
      found = [];
      for (let i = 0; i < names.length; i += BATCH) {
        ctx.signal.throwIfAborted();
        const batch = names.slice(i, i + BATCH).map((name) => ({ name, path: path === '/' ? `/${name}` : `${path}/${name}` }));
        const stats = await Promise.all(batch.map((b) => ctx.files.lstat(b.path).catch(() => null)));
        for (const [k, b] of batch.entries()) if (stats[k]) found.push({ ...b, st: stats[k] });
      }
    } else found = [{ name: operands[0] ?? path, path, st }];

    const names = await accountNames(ctx.files);
    const entries: ListedEntry[] = [];
    for (const f of found) {
      const target = f.st.isSymbolicLink() ? await ctx.files.readlink(f.path) : null;
      entries.push({
        name: f.name,
        type: fileType(f.st),
        mode: modeString(f.st),
        uid: f.st.uid,
        user: names.user(f.st.uid),
        gid: f.st.gid,
        group: names.group(f.st.gid),
        size: f.st.size,
        modified: isoTime(f.st.mtime),
        ...(target !== null ? { target } : {}),
      });
    }
    if (flags.has('l')) {
      const rows = entries.map((e) => [e.mode, printable(e.user), printable(e.group), String(e.size), e.modified, `${printable(e.name)}${e.target !== undefined ? ` -> ${printable(e.target)}` : ''}`]);
      if (rows.length) ctx.write(table(['MODE', 'OWNER', 'GROUP', 'SIZE', 'MODIFIED', 'NAME'], rows));
    } else ctx.write(entries.map((e) => `${printable(e.name)}\n`).join(''));
    return { data: { path, entries } };
  },
};
