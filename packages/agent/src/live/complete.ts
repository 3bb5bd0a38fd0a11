import { posix } from 'node:path';
import { MAX_LIVE_COMPLETIONS, type LiveCompletionEntry } from '@cordon/protocol';
import type { SafeFiles } from '../platform/types.js';
import { CommandError, fsError } from './errors.js';
import { printable } from './format.js';
import { statPath } from './paths.js';

/** What a partial path completes to: the typed part up to its last `/`, and the names that follow it. */
export interface PathCompletionResult {
  base: string;
  entries: LiveCompletionEntry[];
  truncated: boolean;
}

/** Entries lstat()ed at once (as `ls` does). */
const BATCH = 64;
const byBytes = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
// A name a terminal would take as control is never offered: it cannot be typed either.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Tab completion of `word` against the session's working directory `cwd`: the directory its part
 * up to the last `/` names is listed, reached as `cd` and `ls` reach one (a link root controls is
 * followed, one a user could have planted is not), and the names starting with the last part are
 * answered, in byte order, at most `max`. Names starting with a dot only when the part does. A
 * link counts as a directory when `cd` would follow it there. Nothing is run.
 */
export async function completePath(files: SafeFiles, cwd: string, word: string, signal: AbortSignal, max = MAX_LIVE_COMPLETIONS): Promise<PathCompletionResult> {
  const slash = word.lastIndexOf('/');
  const base = word.slice(0, slash + 1);
  const part = word.slice(slash + 1);
  const dir = posix.resolve(cwd, base);
  const st = await statPath(files, dir, { follow: true });
  if (st.isSymbolicLink()) throw new CommandError(`${printable(dir)}: a symbolic link a user could have planted; not followed`);
  if (!st.isDirectory()) throw new CommandError(`${printable(dir)}: not a directory`);
  let names: string[] | null;
  try {
    names = await files.readDir(dir);
  } catch (e) {
    throw fsError(e, dir);
  }
  if (names === null) throw new CommandError(`${printable(dir)}: no such file or directory`);
  const matching = names.filter((n) => n.startsWith(part) && (part.startsWith('.') || !n.startsWith('.')) && !CONTROL.test(n)).sort(byBytes);
  const kept = matching.slice(0, max);
  const entries: LiveCompletionEntry[] = [];
  for (let i = 0; i < kept.length; i += BATCH) {
    signal.throwIfAborted();
    const batch = kept.slice(i, i + BATCH);
    const types = await Promise.all(batch.map((name) => typeOf(files, dir === '/' ? `/${name}` : `${dir}/${name}`)));
    for (const [k, name] of batch.entries()) if (types[k]) entries.push({ name, type: types[k] });
  }
  return { base, entries, truncated: matching.length > kept.length };
}

async function typeOf(files: SafeFiles, path: string): Promise<LiveCompletionEntry['type'] | null> {
  const st = await files.lstat(path).catch(() => null);
  if (!st) return null;
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (!st.isSymbolicLink()) return 'other';
  // stat follows only links root controls: what it answers as a directory, cd goes into.
  const to = await files.stat(path).catch(() => null);
  return to && !to.isSymbolicLink() && to.isDirectory() ? 'dir' : 'link';
}
