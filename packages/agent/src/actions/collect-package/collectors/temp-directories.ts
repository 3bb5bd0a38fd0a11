import { csvLines, notPresent, safeName } from '../format.js';
import type { CollectContext, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, hashOrBlank, homes, isExecutable, ownerName, users, walk } from './common.js';

/** One row of a temp directory listing. */
export interface TempRow {
  path: string;
  type: string;
  size: number;
  owner: string;
  mode: string;
  mtime: string;
  executable: 'yes' | 'no';
  sha256: string;
}

const SYSTEM_TEMP = ['/tmp', '/var/tmp', '/dev/shm'];

/** Temp directories: the system's and each user's, as (label, path). */
export async function tempDirs(ctx: CollectContext): Promise<{ label: string; path: string }[]> {
  if (ctx.roots?.temp) return ctx.roots.temp.map((p) => ({ label: `system_${safeName(p)}`, path: p }));
  const out = SYSTEM_TEMP.map((p) => ({ label: `system_${safeName(p)}`, path: p }));
  for (const n of ((await ctx.readDir('/run/user')) ?? []).sort()) out.push({ label: `user_${n}_run`, path: `/run/user/${n}` });
  for (const h of await homes(ctx)) {
    for (const d of ['tmp', '.tmp', '.cache/tmp']) {
      const p = `${h.home}/${d}`;
      // A link (~/tmp -> /root) is listed as what it is; the walk never goes through it.
      if ((await ctx.stat(p))?.isDirectory() || (await ctx.lstat(p))?.isSymbolicLink()) out.push({ label: `user_${safeName(h.user)}_${safeName(d)}`, path: p });
    }
  }
  return out;
}

/** Lists a temp tree: every entry with size, owner, mtime; executables hashed. Yields as it walks. */
export async function* listTemp(ctx: CollectContext, root: string, byUid: Map<number, string>, state = { count: 0, pruned: false }): AsyncGenerator<TempRow> {
  for await (const { path, st } of walk(ctx, root, { maxDepth: 12, maxEntries: 100_000, state })) {
    const type = st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isSocket() ? 'socket' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() || st.isBlockDevice() ? 'device' : 'other';
    // Only regular files are looked into; FIFOs, sockets and devices are listed, never opened.
    const exec = st.isFile() && (await isExecutable(ctx, path, st));
    yield { path, type, size: st.size, owner: ownerName(byUid, st.uid), mode: (st.mode & 0o7777).toString(8), mtime: st.mtime.toISOString(), executable: exec ? 'yes' : 'no', sha256: exec ? await hashOrBlank(ctx, path, st.size) : '' };
  }
}

/** Temp Directories: per system and user temp dir, a CSV of what is there (attackers stage tools here). */
export const tempDirectories: Collector = {
  folder: 'Temp Directories',
  name: 'temp-directories',
  source: '/tmp, /var/tmp, /dev/shm, /run/user/<uid>, ~/tmp',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    const byUid = new Map((await users(ctx)).map((u) => [u.uid, u.user]));
    for (const d of await tempDirs(ctx)) {
      const real = await ctx.realpath(d.path);
      if (real === null || !(await ctx.lstat(real))?.isDirectory()) {
        const link = (await ctx.lstat(d.path))?.isSymbolicLink() ? await ctx.readlink(d.path) : null;
        yield notPresent(`${d.label}.csv`, d.path, link === null ? undefined : `a symbolic link to ${link}, not followed`);
        continue;
      }
      // Streamed: a huge temp dir that outlasts the time budget still leaves its first rows in the package.
      yield { name: `${d.label}.csv`, source: `${d.path} (walk bounded to depth 12 and 100,000 entries)`, content: csvLines<TempRow>(['path', 'type', 'size', 'owner', 'mode', 'mtime', 'executable', 'sha256'], listTemp(ctx, d.path, byUid)) };
    }
  },
};
