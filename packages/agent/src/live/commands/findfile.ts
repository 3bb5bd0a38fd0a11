import { walk } from '../../actions/collect-package/collectors/common.js';
import { parseArgs } from '../args.js';
import { CommandError, usageError } from '../errors.js';
import { fileType, printable } from '../format.js';
import { statPath } from '../paths.js';
import type { LiveCommand } from '../types.js';

/** Results `findfile` stops at unless told otherwise, and the most it may be told. */
export const DEFAULT_MAX_RESULTS = 1000;
const MAX_RESULTS = 100_000;
/** Deeper than any real tree; a bind-mount loop ends here. */
const MAX_DEPTH = 256;

/** Kernel pseudo file systems: their "files" are processes, devices and kernel state, not evidence on disk. */
const PSEUDO = ['/proc', '/sys', '/dev'];
/** Below a pseudo file system but real files (a tmpfs where malware drops programs): searched. */
const NOT_PSEUDO = ['/dev/shm'];

const under = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

/** Whether a path lies in a pseudo file system `findfile` does not search. */
export function inPseudoFileSystem(path: string): boolean {
  return PSEUDO.some((d) => under(path, d)) && !NOT_PSEUDO.some((d) => under(path, d));
}

/**
 * A name or a shell glob of names (`*`, `?`, `[a-z]`, `[!x]`, `\` escaping) as a matcher of file
 * names; a name without glob characters matches only itself.
 */
export function nameMatcher(glob: string): (name: string) => boolean {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '\\' && i + 1 < glob.length) re += escape(glob[++i]!);
    else if (c === '[') {
      const end = glob.indexOf(']', i + 2);
      if (end < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else re += escape(c);
  }
  const rx = new RegExp(`^${re}$`, 's');
  return (name) => rx.test(name);
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** One file `findfile` found. */
export interface FoundEntry {
  path: string;
  type: string;
  size: number;
}

/**
 * `findfile`: files whose name matches, below a directory (default `/`). The walk never follows a
 * symbolic link (a link is found, not entered), enters other mounts but not the kernel's pseudo
 * file systems (/proc, /sys, /dev; /dev/shm is searched), and stops at `--max` results, saying so.
 */
export const findfile: LiveCommand = {
  name: 'findfile',
  summary: 'Find files by name or glob (e.g. *.sh) below a directory, without following links',
  usage: 'findfile <name-or-glob> [--root <dir>] [--max N]',
  level: 'basic',
  async run(args, ctx) {
    const { operands, options } = parseArgs(this, args, { options: ['--root', '--max'], maxOperands: 1 });
    const pattern = operands[0];
    if (pattern === undefined || pattern === '') throw usageError(this);
    if (pattern.includes('/')) throw usageError(this, 'give a file name or a glob of names, not a path (--root says where to look)');
    const maxText = options.get('--max') ?? String(DEFAULT_MAX_RESULTS);
    const max = /^\d+$/.test(maxText) ? Number(maxText) : NaN;
    if (!(max >= 1 && max <= MAX_RESULTS)) throw usageError(this, `--max takes a number from 1 to ${MAX_RESULTS}`);
    const root = ctx.resolve(options.get('--root') ?? '/');
    const st = await statPath(ctx.files, root, { follow: true });
    if (!st.isDirectory()) throw new CommandError(`${printable(root)}: not a directory`);
    const real = (await ctx.files.realpath(root)) ?? root;
    if (inPseudoFileSystem(real)) throw new CommandError(`${printable(root)}: a kernel pseudo file system (/proc, /sys, /dev) is not searched`);

    const matches = nameMatcher(pattern);
    // The pseudo file systems are left out with everything below them; the real ones below them are searched on their own.
    const roots = [real, ...NOT_PSEUDO.filter((d) => real === '/' || under(d, real))].filter((d, i, all) => all.indexOf(d) === i);
    ctx.trace(`searching ${roots.join(', ')} for ${JSON.stringify(pattern)}; not entering ${PSEUDO.join(', ')}`);
    const found: FoundEntry[] = [];
    const state = { count: 0, pruned: false, unreadable: 0 };
    let atMax = false;
    search: for (const r of roots) {
      for await (const e of walk(ctx.collect, r, { maxDepth: MAX_DEPTH, maxEntries: Number.MAX_SAFE_INTEGER, crossMounts: true, skip: inPseudoFileSystem, state })) {
        if (!matches(e.path.slice(e.path.lastIndexOf('/') + 1))) continue;
        if (found.length === max) {
          atMax = true;
          break search;
        }
        found.push({ path: e.path, type: fileType(e.st), size: e.st.size });
        ctx.write(`${printable(e.path)}\n`);
      }
    }
    ctx.signal.throwIfAborted();
    if (!found.length) ctx.write(`No file named ${printable(pattern)} below ${printable(root)}.\n`);
    if (atMax) ctx.write(`Stopped at ${max} results (--max ${max}); there may be more.\n`);
    if (state.unreadable) ctx.write(`${state.unreadable} ${state.unreadable === 1 ? 'directory' : 'directories'} could not be read.\n`);
    if (state.pruned) ctx.write(`Directories deeper than ${MAX_DEPTH} levels were not searched.\n`);
    return { data: { root, pattern, matches: found, stoppedAtMax: atMax, unreadableDirectories: state.unreadable } };
  },
};
