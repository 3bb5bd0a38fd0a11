import type { Stats } from 'node:fs';
import { currentPlatform } from '../platform/index.js';
import type { SafeFiles, ScanRoot } from '../platform/types.js';

/** A regular file to scan, with what lstat said of it and the root it was found under. */
export interface FoundFile {
  path: string;
  size: number;
  mtimeMs: number;
  uid: number;
  gid: number;
  mode: number;
  dev: number;
  ino: number;
  /** More than 1: the file has other names (hard links); it is yielded once, under the first name found. */
  nlink: number;
  root: ScanRoot;
  /** Set when the bytes are read elsewhere than `path` (the root's readVia: open it following links). */
  readVia?: string;
}

/** A file or directory the walk could not read: counted and listed by the scan, never fatal. */
export interface WalkProblem {
  /** Vanished: removed (or replaced by a link) while the walk went by. NotRegular: a root that is not a file or directory (a link, a FIFO). */
  problem: 'Vanished' | 'Unreadable' | 'NotRegular';
  path: string;
  detail: string;
  root: ScanRoot;
}

/** Progress: the walk is now listing this directory. */
export interface WalkDirectory {
  directory: string;
}

export type WalkItem = FoundFile | WalkProblem | WalkDirectory;

/** What the walk passed by without yielding (the scan's summary may show them). */
export interface WalkCounts {
  directories: number;
  /** FIFOs, sockets and device nodes: never opened. */
  special: number;
  /** Symbolic links: never followed. */
  links: number;
}

export interface WalkOptions {
  /** Aborting stops the walk at its next step (well within a second): the generator just ends. */
  signal: AbortSignal;
  /** Safe file access (a fresh one per walk by default); tests pass one with faults. */
  files?: SafeFiles;
  /** Paths left out, with everything below them (absolute; no globs). */
  exclude?: string[];
  /** Incremented as the walk goes, if given. */
  counts?: WalkCounts;
}

/** Entries lstat()ed at once: serial awaits make big trees slow, unbounded ones flood the thread pool. */
const BATCH = 64;
/** Most files (and directories) remembered to yield each once; beyond it a duplicate may slip through. */
const MAX_SEEN = 1_000_000;

class Seen {
  private readonly keys = new Set<string>();
  has(st: Stats): boolean {
    return this.keys.has(`${st.dev}:${st.ino}`);
  }
  add(st: Stats): void {
    if (this.keys.size < MAX_SEEN) this.keys.add(`${st.dev}:${st.ino}`);
  }
}

function join(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

function excluder(paths: string[]): (p: string) => boolean {
  const norm = paths.map((p) => p.replace(/(.)\/+$/, '$1'));
  if (norm.length === 0) return () => false;
  return (p) => norm.some((e) => e === '/' || p === e || p.startsWith(`${e}/`));
}

function errorDetail(e: unknown): { problem: WalkProblem['problem']; detail: string } {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return { problem: 'Vanished', detail: 'removed while the scan went by' };
  if (code === 'EACCES' || code === 'EPERM') return { problem: 'Unreadable', detail: `permission denied (${code})` };
  return { problem: 'Unreadable', detail: (e as Error).message ?? String(e) };
}

function found(path: string, st: Stats, root: ScanRoot): FoundFile {
  return { path, size: st.size, mtimeMs: st.mtimeMs, uid: st.uid, gid: st.gid, mode: st.mode, dev: st.dev, ino: st.ino, nlink: st.nlink, root, ...(root.readVia ? { readVia: root.readVia } : {}) };
}

/**
 * Walks scan roots and yields their regular files, each (dev+ino) once, with progress hints and
 * problems in between. It lstat()s only: a symbolic link is never followed (so no path it yields
 * passes through a linked directory), FIFOs, sockets and devices are never opened, and a directory
 * is listed only when it is exactly where the walk found it (safe file access, noFollow).
 *
 * Roots that are files come first (a running program is reported as such, not as a file of /tmp),
 * then directories listed without their subdirectories, then whole trees. A tree is walked depth
 * first, a directory's files before its subdirectories, in name order, with a stack of directories
 * (entry names, not handles: no descriptor stays open), so memory grows with depth, not with the
 * tree. A tree does not enter its root's `prune` directories (nor lstat them), and a `filesystem`
 * root stays on its own device (each mount is its own root). Other roots cross mounts, and a
 * directory reached twice (a tree inside another root) is walked once.
 */
export async function* walkFiles(roots: ScanRoot[], opts: WalkOptions): AsyncGenerator<WalkItem> {
  const files = opts.files ?? currentPlatform().files();
  const excluded = excluder(opts.exclude ?? []);
  const counts = opts.counts ?? { directories: 0, special: 0, links: 0 };
  const seenFiles = new Seen();
  const seenDirs = new Seen();
  const dirRoots: { root: ScanRoot; st: Stats }[] = [];

  /** Whether a file is new to this walk; remembered when another root may reach it again. */
  const first = (st: Stats, remember: boolean): boolean => {
    if (seenFiles.has(st)) return false;
    if (remember || st.nlink > 1) seenFiles.add(st);
    return true;
  };

  for (const root of roots) {
    if (opts.signal.aborted) return;
    if (excluded(root.path)) continue;
    let st: Stats | null;
    try {
      // readVia is a kernel magic link (/proc/<pid>/exe): following it is the point.
      st = root.readVia ? await files.stat(root.readVia, { trustLinks: true }) : await files.lstat(root.path);
    } catch (e) {
      yield { ...errorDetail(e), path: root.path, root };
      continue;
    }
    if (!st) yield { problem: 'Vanished', path: root.path, detail: root.readVia ? `gone: ${root.readVia} no longer exists (the process ended)` : 'gone since the scan was planned', root };
    else if (st.isDirectory() && !root.readVia) dirRoots.push({ root, st });
    else if (!st.isFile()) yield { problem: 'NotRegular', path: root.path, detail: `not a regular file (${kind(st)}): not read`, root };
    else if (first(st, true)) yield found(root.path, st, root);
  }
  if (opts.signal.aborted) return;

  // Listings of one directory before whole trees: their files are remembered, so a tree that holds them skips them.
  dirRoots.sort((a, b) => Number(a.root.recursive) - Number(b.root.recursive));
  for (const { root, st } of dirRoots) {
    if (opts.signal.aborted) return;
    yield* walkTree(root, st);
  }

  async function* walkTree(root: ScanRoot, rootSt: Stats): AsyncGenerator<WalkItem> {
    const oneDevice = root.why === 'filesystem';
    const prune = new Set(root.prune ?? []);
    if (root.recursive && !oneDevice) {
      if (seenDirs.has(rootSt)) return;
      seenDirs.add(rootSt);
    }
    // Each frame: a directory, its entry names once listed, and the subdirectories found so far.
    // Its files are yielded first; then it is replaced by its subdirectories (so names are freed early).
    const stack: { path: string; names: string[] | null; next: number; subdirs: string[] }[] = [{ path: root.path, names: null, next: 0, subdirs: [] }];
    while (stack.length) {
      if (opts.signal.aborted) return;
      const frame = stack.at(-1)!;
      if (frame.names === null) {
        yield { directory: frame.path };
        counts.directories++;
        let names: string[] | null;
        try {
          // noFollow: listed only if the directory is still exactly where it was found (not swapped for a link).
          names = await files.readDir(frame.path, { noFollow: true });
        } catch (e) {
          stack.pop();
          yield { ...errorDetail(e), path: frame.path, root };
          continue;
        }
        if (names === null) {
          stack.pop();
          yield { problem: 'Vanished', path: frame.path, detail: 'the directory was removed, or replaced by a symbolic link (not followed)', root };
          continue;
        }
        frame.names = names.sort();
      }
      if (frame.next >= frame.names.length) {
        stack.pop();
        // Pushed in reverse so the walk goes down in name order.
        for (const d of frame.subdirs.reverse()) stack.push({ path: d, names: null, next: 0, subdirs: [] });
        continue;
      }
      const batch = frame.names
        .slice(frame.next, frame.next + BATCH)
        .map((n) => join(frame.path, n))
        .filter((p) => !excluded(p) && !prune.has(p));
      frame.next += BATCH;
      const stats = await Promise.all(batch.map((p) => files.lstat(p).then((st) => ({ st }), (error: unknown) => ({ error }))));
      for (const [k, path] of batch.entries()) {
        if (opts.signal.aborted) return;
        const r = stats[k]!;
        if ('error' in r) {
          yield { ...errorDetail(r.error), path, root };
          continue;
        }
        const st = r.st;
        if (!st) yield { problem: 'Vanished', path, detail: 'removed while the scan listed its directory', root };
        else if (st.isFile()) {
          if (first(st, !root.recursive)) yield found(path, st, root);
        } else if (st.isDirectory()) {
          if (!root.recursive || (oneDevice && st.dev !== rootSt.dev)) continue;
          if (!oneDevice) {
            if (seenDirs.has(st)) continue;
            seenDirs.add(st);
          }
          frame.subdirs.push(path);
        } else if (st.isSymbolicLink()) counts.links++;
        else counts.special++;
      }
    }
  }
}

function kind(st: Stats): string {
  if (st.isSymbolicLink()) return 'a symbolic link, not followed';
  if (st.isFIFO()) return 'a FIFO';
  if (st.isSocket()) return 'a socket';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  return 'a special file';
}
