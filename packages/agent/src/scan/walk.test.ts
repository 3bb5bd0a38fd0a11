import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, copyFileSync, linkSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { readlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createSafeFiles } from '../platform/linux/safe-files.js';
import type { SafeFiles, ScanRoot } from '../platform/types.js';
import { walkFiles, type FoundFile, type WalkCounts, type WalkItem, type WalkProblem } from './walk.js';

const tmp = mkdtempSync(join(tmpdir(), 'cordon-walk-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function write(path: string, text = 'x\n'): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, text);
  return path;
}

const root = (path: string, over: Partial<ScanRoot> = {}): ScanRoot => ({ path, why: 'temp', recursive: true, ...over });

async function walk(roots: ScanRoot[], opts: { files?: SafeFiles; exclude?: string[]; counts?: WalkCounts; signal?: AbortSignal } = {}): Promise<WalkItem[]> {
  const out: WalkItem[] = [];
  for await (const item of walkFiles(roots, { signal: opts.signal ?? new AbortController().signal, ...opts })) out.push(item);
  return out;
}
const isFile = (i: WalkItem): i is FoundFile => 'ino' in i;
const isProblem = (i: WalkItem): i is WalkProblem => 'problem' in i;
const filesOf = (items: WalkItem[]) => items.filter(isFile).map((f) => f.path);
const problemsOf = (items: WalkItem[]) => items.filter(isProblem).map((p) => ({ problem: p.problem, path: p.path }));

describe('walkFiles on a real tree', () => {
  const t = join(tmp, 'tree');
  write(join(t, 'top.txt'), 'hello\n');
  write(join(t, 'a/mid.bin'));
  write(join(t, 'a/b/c/deep.txt'));
  write(join(t, 'z/last'));
  symlinkSync('/etc', join(t, 'link-out'));
  symlinkSync('/etc/hostname', join(t, 'a/link-file'));
  symlinkSync(t, join(t, 'a/b/loop'));
  symlinkSync('..', join(t, 'a/loop-up'));
  execFileSync('mkfifo', [join(t, 'fifo')]);
  execFileSync('mknod', [join(t, 'null'), 'c', '1', '3']);

  it("yields regular files depth first, a directory's files before its subdirectories; never follows links, never opens FIFOs or devices", async () => {
    const counts: WalkCounts = { directories: 0, special: 0, links: 0 };
    const items = await walk([root(t)], { counts });
    expect(filesOf(items)).toEqual([join(t, 'top.txt'), join(t, 'a/mid.bin'), join(t, 'a/b/c/deep.txt'), join(t, 'z/last')]);
    expect(problemsOf(items)).toEqual([]);
    expect(counts).toEqual({ directories: 5, special: 2, links: 4 });
    // Progress: each directory as the walk enters it.
    expect(items.filter((i) => 'directory' in i)).toEqual(['', 'a', 'a/b', 'a/b/c', 'z'].map((d) => ({ directory: d ? join(t, d) : t })));
    const top = items.filter(isFile).find((f) => f.path.endsWith('top.txt'))!;
    const st = statSync(join(t, 'top.txt'));
    expect(top).toEqual({ path: join(t, 'top.txt'), size: 6, mtimeMs: st.mtimeMs, uid: 0, gid: 0, mode: st.mode, dev: st.dev, ino: st.ino, nlink: 1, root: root(t) });
  });

  it('a root that is a file yields it; a root that is a link, FIFO or device is a problem, never opened', async () => {
    const items = await walk([root(join(t, 'top.txt'), { recursive: false }), root(join(t, 'fifo')), root(join(t, 'link-out')), root(join(t, 'null')), root(join(t, 'nope'))]);
    expect(filesOf(items)).toEqual([join(t, 'top.txt')]);
    expect(items.filter(isProblem).map((p) => [p.problem, p.path.slice(t.length), p.detail])).toEqual([
      ['NotRegular', '/fifo', 'not a regular file (a FIFO): not read'],
      ['NotRegular', '/link-out', 'not a regular file (a symbolic link, not followed): not read'],
      ['NotRegular', '/null', 'not a regular file (a device): not read'],
      ['Vanished', '/nope', 'gone since the scan was planned'],
    ]);
  });

  it('a directory listed without its subdirectories yields only its own files', async () => {
    expect(filesOf(await walk([root(join(t, 'a'), { recursive: false })]))).toEqual([join(t, 'a/mid.bin')]);
  });

  it('yields a file reached from several roots once, under the most specific reason', async () => {
    const exe = join(t, 'a/mid.bin');
    const hard = join(tmp, 'hardlink-of-mid');
    linkSync(exe, hard);
    try {
      const items = await walk([root(t), root(join(t, 'a')), root(join(t, 'a'), { recursive: false, why: 'persistence' }), root(exe, { recursive: false, why: 'process' }), root(hard, { recursive: false })]);
      const files = items.filter(isFile);
      expect(files.map((f) => [f.path.slice(t.length), f.root.why])).toEqual([
        ['/a/mid.bin', 'process'],
        ['/top.txt', 'temp'],
        ['/a/b/c/deep.txt', 'temp'],
        ['/z/last', 'temp'],
      ]);
      expect(files[0]!.nlink).toBe(2);
    } finally {
      unlinkSync(hard);
    }
  });

  it('does not enter pruned or excluded directories (nor lstat them)', async () => {
    const lstats: string[] = [];
    const real = createSafeFiles();
    const files: SafeFiles = { ...real, lstat: (p) => (lstats.push(p), real.lstat(p)) };
    const items = await walk([root(t, { prune: [join(t, 'a/b')] })], { files, exclude: [join(t, 'z/')] });
    expect(filesOf(items)).toEqual([join(t, 'top.txt'), join(t, 'a/mid.bin')]);
    expect(lstats).not.toContain(join(t, 'a/b'));
    expect(lstats).not.toContain(join(t, 'z'));
  });
});

describe('faults', () => {
  it('a file deleted between readdir and lstat is Vanished; the walk goes on', async () => {
    const t = join(tmp, 'race');
    write(join(t, 'a'));
    write(join(t, 'b'));
    write(join(t, 'c'));
    const real = createSafeFiles();
    // The race helper: the directory is listed, then the file goes before the walk looks at it.
    const files: SafeFiles = {
      ...real,
      readDir: async (p, o) => {
        const names = await real.readDir(p, o);
        if (p === t) unlinkSync(join(t, 'b'));
        return names;
      },
    };
    const items = await walk([root(t)], { files });
    expect(filesOf(items)).toEqual([join(t, 'a'), join(t, 'c')]);
    expect(items.filter(isProblem)).toEqual([{ problem: 'Vanished', path: join(t, 'b'), detail: 'removed while the scan listed its directory', root: root(t) }]);
  });

  it('a directory removed (or swapped for a link) before it is listed is Vanished', async () => {
    const t = join(tmp, 'race-dir');
    write(join(t, 'sub/x'));
    write(join(t, 'y'));
    const real = createSafeFiles();
    const files: SafeFiles = {
      ...real,
      readDir: async (p, o) => {
        if (p === join(t, 'sub')) {
          rmSync(join(t, 'sub'), { recursive: true });
          symlinkSync('/etc', join(t, 'sub'));
        }
        return real.readDir(p, o);
      },
    };
    const items = await walk([root(t)], { files });
    expect(filesOf(items)).toEqual([join(t, 'y')]);
    expect(problemsOf(items)).toEqual([{ problem: 'Vanished', path: join(t, 'sub') }]);
  });

  it('an unreadable directory (EACCES) is a problem, never fatal (seam)', async () => {
    const t = join(tmp, 'eacces-seam');
    write(join(t, 'locked/secret'));
    write(join(t, 'open/file'));
    const real = createSafeFiles();
    const files: SafeFiles = {
      ...real,
      readDir: async (p, o) => {
        if (p === join(t, 'locked')) throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
        return real.readDir(p, o);
      },
    };
    const items = await walk([root(t)], { files });
    expect(filesOf(items)).toEqual([join(t, 'open/file')]);
    expect(items.filter(isProblem)).toEqual([{ problem: 'Unreadable', path: join(t, 'locked'), detail: 'permission denied (EACCES)', root: root(t) }]);
  });

  it('an unreadable directory (EACCES) for real, walking as an unprivileged user', async () => {
    // Root reads a chmod 000 directory anyway: the walk runs in a child as nobody (uid 65534).
    const t = mkdtempSync(join(tmpdir(), 'cordon-walk-nobody-'));
    try {
      chmodSync(t, 0o755);
      write(join(t, 'tree/locked/secret'));
      write(join(t, 'tree/open/file'));
      chmodSync(join(t, 'tree/locked'), 0o000);
      const script = write(
        join(t, 'walk.mts'),
        `import { walkFiles } from ${JSON.stringify(join(import.meta.dirname, 'walk.ts'))};\n` +
          `const out = [];\nfor await (const i of walkFiles([{ path: ${JSON.stringify(join(t, 'tree'))}, why: 'temp', recursive: true }], { signal: new AbortController().signal })) if (!('directory' in i)) out.push(i);\n` +
          `process.stdout.write(JSON.stringify(out));\n`,
      );
      chmodSync(script, 0o644);
      const repo = join(import.meta.dirname, '../../../..');
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { cwd: repo, uid: 65534, gid: 65534, env: { PATH: process.env.PATH, HOME: t }, timeout: 60_000 });
      const items = JSON.parse(stdout) as WalkItem[];
      expect(filesOf(items)).toEqual([join(t, 'tree/open/file')]);
      expect(problemsOf(items)).toEqual([{ problem: 'Unreadable', path: join(t, 'tree/locked') }]);
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });
});

describe('mounts', () => {
  // /dev/shm is its own tmpfs below /dev (devtmpfs): a filesystem root stays on its device, others cross.
  const marker = join('/dev/shm', `cordon-walk-${process.pid}`);
  afterAll(() => rmSync(marker, { force: true }));

  it('a filesystem root does not descend into another mount; other roots do', async () => {
    write(marker);
    expect(statSync('/dev/shm').dev).not.toBe(statSync('/dev').dev);
    const counts: WalkCounts = { directories: 0, special: 0, links: 0 };
    const onDev = await walk([root('/dev', { why: 'filesystem' })], { counts });
    expect(filesOf(onDev)).not.toContain(marker);
    expect(counts.special).toBeGreaterThan(0); // device nodes: lstat()ed, never opened
    const crossing = await walk([root('/dev', { why: 'temp', prune: ['/dev/pts', '/dev/mqueue', '/dev/hugepages'] })]);
    expect(filesOf(crossing)).toContain(marker);
  });
});

describe('running programs read through /proc', () => {
  const children: ChildProcess[] = [];
  afterEach(() => {
    for (const c of children.splice(0)) c.kill('SIGKILL');
  });

  it('a deleted program is yielded through its readVia link with its own size; gone once the process ends', async () => {
    const dir = mkdtempSync(join(tmp, 'prog-'));
    const exe = join(dir, 'sleepy');
    copyFileSync('/usr/bin/sleep', exe);
    chmodSync(exe, 0o755);
    const child = spawn(exe, ['60'], { stdio: 'ignore' });
    children.push(child);
    const via = `/proc/${child.pid}/exe`;
    for (let i = 0; i < 200 && !(await readlink(via).catch(() => '')).startsWith(exe); i++) await new Promise((r) => setTimeout(r, 25));
    const size = statSync(exe).size;
    unlinkSync(exe);
    const r = root(exe, { why: 'process', recursive: false, readVia: via });
    const [item] = await walk([r]);
    expect(item).toMatchObject({ path: exe, size, readVia: via, root: r });
    child.kill('SIGKILL');
    await new Promise((res) => child.once('exit', res));
    for (let i = 0; i < 200 && (await readlink(via).catch(() => null)) !== null; i++) await new Promise((res) => setTimeout(res, 25));
    expect(problemsOf(await walk([r]))).toEqual([{ problem: 'Vanished', path: exe }]);
  });
});

describe('abort', () => {
  it('stops at once, mid-directory, on a large tree', async () => {
    const t = join(tmp, 'big');
    for (let d = 0; d < 2; d++) {
      mkdirSync(join(t, `d${d}`), { recursive: true });
      for (let f = 0; f < 300; f++) writeFileSync(join(t, `d${d}`, `f${f}`), '');
    }
    const ac = new AbortController();
    const it = walkFiles([root(t)], { signal: ac.signal });
    let files = 0;
    while (files < 10) if (isFile((await it.next()).value as WalkItem)) files++;
    ac.abort();
    const t0 = Date.now();
    expect((await it.next()).done).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('stops between roots', async () => {
    const ac = new AbortController();
    ac.abort();
    expect(await walk([root(tmp), root('/etc')], { signal: ac.signal })).toEqual([]);
  });
});
