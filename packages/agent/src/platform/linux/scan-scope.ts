import type { Stats } from 'node:fs';
import { readdir, readFile, readlink, stat } from 'node:fs/promises';
import type { SafeFiles, ScanRoot, ScanScope, ScanType } from '../types.js';
import {
  anacronCommands,
  authorizedKeyCommands,
  bareProgram,
  commandPaths,
  cronCommands,
  exeTarget,
  mappedMemory,
  mountKind,
  parseMaps,
  parseMountinfo,
  preloadEntries,
  scanAccounts,
  unitCommands,
  xdgDownloadDir,
  type MountInfo,
} from './scan-parsers.js';
import { createSafeFiles } from './safe-files.js';

/** Where the scope is read from: the real machine, or (tests) a tree that stands for one. */
export interface ScopeSource {
  files: SafeFiles;
  /** A directory that stands for '/' (tests); '' on the real machine. */
  sysroot?: string;
  /** Where /proc is ('/proc'); a missing directory means no processes and no mounts. */
  proc?: string;
  networkMounts?: boolean;
}

// systemd unit directories (system and user units) and the drop-in/wants directories below them.
const UNIT_DIRS = ['/etc/systemd/system', '/run/systemd/system', '/usr/local/lib/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system', '/etc/systemd/user', '/usr/lib/systemd/user'];
// Directories whose files are persistence themselves (scripts run by run-parts, init, at).
const PERSISTENCE_DIRS = ['/etc/cron.hourly', '/etc/cron.daily', '/etc/cron.weekly', '/etc/cron.monthly', '/etc/init.d', '/etc/rc.d/init.d', '/etc/profile.d', '/etc/zsh', '/var/spool/cron/atjobs', '/var/spool/at'];
// Desktop sessions start the Exec= programs of these entries at login.
const AUTOSTART_DIRS = ['/etc/xdg/autostart'];
// Scripts and settings read at boot or login; the paths their lines name are scanned too.
const SCRIPTS = ['/etc/rc.local', '/etc/rc.d/rc.local', '/etc/profile', '/etc/bash.bashrc', '/etc/bashrc', '/etc/environment', '/etc/zshenv', '/etc/zprofile', '/etc/zshrc'];
const USER_SCRIPTS = ['.bashrc', '.profile', '.bash_profile', '.bash_login', '.bash_logout', '.zshrc', '.zshenv', '.zprofile', '.zlogin', '.xprofile', '.xsessionrc', '.pam_environment'];
const TEMP_DIRS = ['/tmp', '/var/tmp', '/dev/shm'];
const WEB_ROOTS = ['/var/www', '/srv/www', '/srv/http', '/usr/share/nginx/html'];
const PRELOAD_DIRS = ['/lib', '/usr/lib', '/lib64', '/usr/lib64', '/usr/local/lib'];
/**
 * Dot-directories of a home a Quick scan leaves to the Full scan: regenerable caches and package
 * stores, by far the bulk of a home's dot-directories. Nothing starts from them unless a
 * persistence entry names it, and the paths those entries name are scanned wherever they are.
 */
const BULKY_DOT_DIRS = ['.cache', '.npm', '.cargo/registry', '.rustup', '.m2', '.gradle', '.nvm', '.pyenv', '.conda', '.local/share/containers', '.local/share/flatpak', '.local/share/Steam'];

/** The mount a path is on: the last mount (a later one hides an earlier one) with the longest mount point above it. */
function mountOf(path: string, mounts: MountInfo[]): MountInfo | null {
  let best: MountInfo | null = null;
  for (const m of mounts) if (under(path, m.mountPoint) && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  return best;
}

function under(path: string, dir: string): boolean {
  return dir === '/' ? path.startsWith('/') : path === dir || path.startsWith(`${dir}/`);
}

async function mountTable(proc: string): Promise<MountInfo[]> {
  try {
    return parseMountinfo(await readFile(`${proc}/self/mountinfo`, 'utf8'));
  } catch {
    return [];
  }
}

/** Collects roots in order (the first reason a file is scanned is the one reported), once per path. */
class ScopeBuilder {
  readonly roots: ScanRoot[] = [];
  readonly skipped: { path: string; reason: string }[] = [];
  private readonly byKey = new Map<string, ScanRoot>();
  private readonly skippedPaths = new Set<string>();

  constructor(
    readonly src: Required<ScopeSource>,
    private readonly mounts: MountInfo[],
  ) {}

  at(path: string): string {
    return this.src.sysroot + path;
  }

  skip(path: string, reason: string): void {
    if (this.skippedPaths.has(path)) return;
    this.skippedPaths.add(path);
    this.skipped.push({ path, reason });
  }

  /** Why a path on this mount is left out, or null when it is read; 'pseudo' for kernel file systems (not worth a line). */
  leftOut(path: string): string | null {
    const m = mountOf(path, this.mounts);
    if (!m) return null;
    const k = mountKind(m);
    if (k.kind === 'user' || (k.kind === 'network' && !this.src.networkMounts)) return `on ${m.mountPoint}, a ${k.reason}`;
    if (k.kind === 'pseudo') return 'pseudo';
    return null;
  }

  /** Mounts below a recursive root that its walk must not enter. */
  pruneBelow(root: string): string[] {
    return this.mounts.filter((m) => m.mountPoint !== root && under(m.mountPoint, root) && mountKind(m).kind !== 'local').map((m) => m.mountPoint);
  }

  add(root: ScanRoot): void {
    const key = `${root.path}\0${root.readVia ?? ''}`;
    const had = this.byKey.get(key);
    if (had) {
      had.recursive ||= root.recursive;
      return;
    }
    this.byKey.set(key, root);
    this.roots.push(root);
  }

  /**
   * A path that exists, with the links root controls resolved: the real path and its lstat, or
   * null when missing. A link a user could have planted is not followed, and is listed as skipped.
   */
  async resolve(path: string): Promise<{ path: string; st: Stats } | null> {
    const files = this.src.files;
    const real = await files.realpath(path).catch(() => null);
    if (real === null) {
      const st = await files.lstat(path).catch(() => null);
      if (st) this.skip(path, 'a symbolic link a user could have planted (or a path through one): not followed');
      return null;
    }
    const st = await files.lstat(real).catch(() => null);
    return st ? { path: real, st } : null;
  }

  /** Adds a file or directory that exists (after the mount check); directories get their prune list. */
  async addPath(path: string, why: ScanRoot['why'], recursive: boolean, extra: { prune?: string[]; filesOnly?: boolean } = {}): Promise<string | null> {
    const found = await this.resolve(path);
    if (!found || !(found.st.isFile() || found.st.isDirectory())) return null;
    if (extra.filesOnly && !found.st.isFile()) return null;
    const out = this.leftOut(found.path);
    if (out) {
      if (out !== 'pseudo') this.skip(found.path, out);
      return null;
    }
    const dir = found.st.isDirectory();
    const prune = dir && recursive ? [...this.pruneBelow(found.path), ...(extra.prune ?? [])] : [];
    this.add({ path: found.path, why, recursive: dir && recursive, ...(prune.length ? { prune } : {}) });
    return found.path;
  }

  /** Adds the files (programs, libraries, scripts) a command or script names; only regular files. */
  async addNamed(paths: string[]): Promise<void> {
    for (const p of paths) await this.addPath(this.at(p), 'persistence', false, { filesOnly: true });
  }

  async readText(path: string): Promise<string | null> {
    return this.src.files.readText(path).catch(() => null);
  }

  async readDir(path: string): Promise<string[]> {
    return ((await this.src.files.readDir(path).catch(() => null)) ?? []).sort();
  }
}

/**
 * Executables and mapped files of running processes, each file once. A file whose path still
 * names it is a plain root; one that was deleted or replaced, a memfd, or a file of another mount
 * namespace is read through its magic link in /proc (readVia). A file on a mount a scan leaves
 * out (a user's FUSE file system, a network share) is listed as skipped, not even stat()ed.
 */
async function addProcesses(b: ScopeBuilder, proc: string, onlyReadVia: boolean): Promise<void> {
  let pids: string[];
  try {
    pids = (await readdir(proc)).filter((n) => /^\d+$/.test(n)).sort((x, y) => Number(x) - Number(y));
  } catch {
    return;
  }
  const seen = new Set<string>();
  const files = b.src.files;
  for (const pid of pids) {
    const candidates: { path: string; deleted: boolean; via: string; dev?: number; inode?: number }[] = [];
    try {
      const t = exeTarget(await readlink(`${proc}/${pid}/exe`));
      candidates.push({ path: t.path, deleted: t.deleted, via: `${proc}/${pid}/exe` });
    } catch {
      continue; // a kernel thread, or the process is gone
    }
    try {
      for (const m of parseMaps(await readFile(`${proc}/${pid}/maps`, 'utf8'))) candidates.push({ path: m.path, deleted: m.deleted, via: `${proc}/${pid}/map_files/${m.range}`, dev: m.dev, inode: m.inode });
    } catch {
      // gone meanwhile: its executable is still listed
    }
    for (const c of candidates) {
      if (mappedMemory(c.path) || (c.inode !== undefined && seen.has(`${c.dev}:${c.inode}`))) continue;
      const out = b.leftOut(c.path);
      if (out) {
        if (out !== 'pseudo') b.skip(c.path, `running program's file ${out}`);
        continue;
      }
      let dev = c.dev;
      let inode = c.inode;
      if (inode === undefined) {
        // Follows the kernel's link: the file the process runs, wherever (and whether) its path is.
        const st = await stat(c.via).catch(() => null);
        if (!st) continue;
        dev = st.dev;
        inode = st.ino;
      }
      const key = `${dev}:${inode}`;
      if (seen.has(key)) continue;
      seen.add(key);
      const memfd = c.path.startsWith('/memfd:');
      const here = c.deleted || memfd ? null : await files.lstat(c.path).catch(() => null);
      if (here?.isFile() && here.ino === inode) {
        if (!onlyReadVia) b.add({ path: c.path, why: 'process', recursive: false });
        continue;
      }
      // The bytes are reachable only through /proc: map_files needs CAP_SYS_ADMIN, which a container may lack.
      const via = await stat(c.via).catch((e: NodeJS.ErrnoException) => e.code ?? 'error');
      if (typeof via === 'string' || !via.isFile()) {
        b.skip(c.path, `running program's file that ${c.deleted || memfd ? 'was deleted' : 'lives in another mount namespace'} (process ${pid}) and cannot be read through ${c.via}${typeof via === 'string' ? ` (${via})` : ''}`);
        continue;
      }
      const note = memfd ? `a memfd (memory-only file) mapped by process ${pid}` : c.deleted ? `deleted (or replaced) after process ${pid} started` : `a file of another mount namespace (process ${pid}, e.g. a container)`;
      b.add({ path: c.path, why: 'process', recursive: false, readVia: c.via, note });
    }
  }
}

/** Persistence: systemd units and what they run, cron and what it runs, rc, profiles, ld.so.preload. */
async function addPersistence(b: ScopeBuilder, homes: { home: string }[]): Promise<void> {
  const unitDirs = [
    ...[...UNIT_DIRS, ...AUTOSTART_DIRS].map((d) => ({ dir: b.at(d), home: undefined as string | undefined })),
    ...homes.flatMap((h) => ['.config/systemd/user', '.config/autostart'].map((d) => ({ dir: `${h.home}/${d}`, home: h.home.slice(b.at('').length) }))),
  ];
  for (const { dir, home } of unitDirs) {
    const real = await b.addPath(dir, 'persistence', true);
    if (!real) continue;
    // Units, their drop-ins (<unit>.d/*.conf) and desktop entries: each Exec*= line's programs and paths.
    const unitFiles: string[] = [];
    for (const n of await b.readDir(real)) {
      if (/\.(service|socket|desktop)$/.test(n)) unitFiles.push(`${real}/${n}`);
      else if (n.endsWith('.d')) for (const c of await b.readDir(`${real}/${n}`)) if (c.endsWith('.conf')) unitFiles.push(`${real}/${n}/${c}`);
    }
    for (const f of unitFiles) {
      const text = await b.readText(f);
      if (text) for (const cmd of unitCommands(text, { home })) await b.addNamed([...commandPaths(cmd), ...bareProgram(cmd)]);
    }
  }

  // cron: system crontabs carry a user field, spool ones do not.
  const crontabs: { file: string; system: boolean }[] = [{ file: b.at('/etc/crontab'), system: true }];
  await b.addPath(b.at('/etc/crontab'), 'persistence', false);
  for (const [dir, system] of [['/etc/cron.d', true], ['/var/spool/cron/crontabs', false], ['/var/spool/cron', false]] as const) {
    const real = await b.addPath(b.at(dir), 'persistence', false);
    if (real) for (const n of await b.readDir(real)) crontabs.push({ file: `${real}/${n}`, system });
  }
  for (const { file, system } of crontabs) {
    const text = await b.readText(file);
    if (text) for (const cmd of cronCommands(text, { system })) await b.addNamed([...commandPaths(cmd), ...bareProgram(cmd)]);
  }
  if (await b.addPath(b.at('/etc/anacrontab'), 'persistence', false)) {
    for (const cmd of anacronCommands((await b.readText(b.at('/etc/anacrontab'))) ?? '')) await b.addNamed([...commandPaths(cmd), ...bareProgram(cmd)]);
  }
  for (const d of PERSISTENCE_DIRS) await b.addPath(b.at(d), 'persistence', false);

  // Boot and login scripts, and the files their lines name (LD_PRELOAD=/x in /etc/environment too).
  const scripts = [...SCRIPTS.map((s) => b.at(s)), ...homes.flatMap((h) => USER_SCRIPTS.map((s) => `${h.home}/${s}`))];
  for (const s of scripts) {
    const real = await b.addPath(s, 'persistence', false, { filesOnly: true });
    if (real) await addScriptPaths(b, real);
  }
  const profileD = await b.resolve(b.at('/etc/profile.d'));
  if (profileD?.st.isDirectory()) for (const n of await b.readDir(profileD.path)) await addScriptPaths(b, `${profileD.path}/${n}`);

  const preload = await b.addPath(b.at('/etc/ld.so.preload'), 'persistence', false, { filesOnly: true });
  if (preload) {
    for (const lib of preloadEntries((await b.readText(preload)) ?? '')) await b.addNamed(lib.startsWith('/') ? [lib] : PRELOAD_DIRS.map((d) => `${d}/${lib}`));
  }

  for (const { home } of homes) {
    for (const name of ['authorized_keys', 'authorized_keys2']) {
      const keys = await b.addPath(`${home}/.ssh/${name}`, 'persistence', false, { filesOnly: true });
      if (keys) for (const cmd of authorizedKeyCommands((await b.readText(keys)) ?? '')) await b.addNamed([...commandPaths(cmd), ...bareProgram(cmd)]);
    }
  }
}

async function addScriptPaths(b: ScopeBuilder, file: string): Promise<void> {
  const text = await b.readText(file);
  if (!text) return;
  const paths = text
    .split('\n')
    .filter((l) => !l.trim().startsWith('#'))
    .flatMap(commandPaths);
  await b.addNamed([...new Set(paths)]);
}

/** Homes of root and of people (uid >= 1000) from /etc/passwd, plus /root, each once and existing. */
async function homesOf(b: ScopeBuilder): Promise<{ home: string }[]> {
  const accounts = scanAccounts((await b.readText(b.at('/etc/passwd'))) ?? '');
  const out: { home: string }[] = [];
  const seen = new Set<string>();
  for (const home of [b.at('/root'), ...accounts.map((a) => b.at(a.home))]) {
    const found = await b.resolve(home);
    if (!found?.st.isDirectory() || seen.has(found.path) || found.path === (b.at('') || '/')) continue;
    seen.add(found.path);
    out.push({ home: found.path });
  }
  return out;
}

/** A home's dot-directories (recursive, bulky caches pruned), its top-level dot-files, and its downloads. */
async function addHome(b: ScopeBuilder, home: string): Promise<void> {
  for (const name of await b.readDir(home)) {
    if (!name.startsWith('.') || name === '.' || name === '..') continue;
    const path = `${home}/${name}`;
    const bulky = BULKY_DOT_DIRS.filter((d) => d === name || d.startsWith(`${name}/`)).map((d) => `${home}/${d}`);
    if (bulky.includes(path)) {
      if (await b.resolve(path)) b.skip(path, 'a cache or package store of programs, left to the Full scan (nothing starts from it unless a persistence entry names it, and those are scanned)');
      continue;
    }
    const pruned: string[] = [];
    for (const p of bulky) {
      if (!(await b.resolve(p))) continue;
      pruned.push(p);
      b.skip(p, 'a cache or package store of programs, left to the Full scan');
    }
    await b.addPath(path, 'home', true, { prune: pruned });
  }
  const dirs = await b.readText(`${home}/.config/user-dirs.dirs`);
  const downloads = (dirs && xdgDownloadDir(dirs, home)) || `${home}/Downloads`;
  await b.addPath(downloads, 'home', true);
}

/**
 * Quick: the running programs' files, persistence and the paths it names, temp directories,
 * users' dot-directories and downloads, web roots. Roots cross mounts, except into mounts a scan
 * leaves out (each such mount is pruned and listed as skipped).
 */
export async function quickScope(source: ScopeSource): Promise<ScanScope> {
  const src = { sysroot: '', proc: '/proc', networkMounts: false, ...source };
  const b = new ScopeBuilder(src, await mountTable(src.proc));
  await addProcesses(b, src.proc, false);
  const homes = await homesOf(b);
  await addPersistence(b, homes);
  for (const t of TEMP_DIRS) await b.addPath(b.at(t), 'temp', true);
  for (const { home } of homes) await addHome(b, home);
  for (const w of WEB_ROOTS) await b.addPath(b.at(w), 'webroot', true);
  // Mounts pruned below recursive roots are left out too: say so once.
  for (const r of b.roots) {
    for (const p of r.prune ?? []) {
      const why = b.leftOut(p);
      if (why && why !== 'pseudo') b.skip(p, why);
    }
  }
  return { roots: b.roots, skipped: b.skipped };
}

/**
 * Full: every mounted local file system, each its own root (a walk does not cross into another
 * mount), without pseudo file systems, mounts below /proc and /sys, and (unless asked) network
 * file systems; a second mount of a file system already read (a bind mount) is read once. Running
 * programs' files that no path names any more (deleted, memfd, another namespace) are added, as
 * no walk of a file system would find them.
 */
export async function fullScope(source: ScopeSource): Promise<ScanScope> {
  const src = { sysroot: '', proc: '/proc', networkMounts: false, ...source };
  const mounts = await mountTable(src.proc);
  const b = new ScopeBuilder(src, mounts);
  // A later mount on the same mount point hides the earlier one.
  const visible = mounts.filter((m, i) => !mounts.slice(i + 1).some((n) => n.mountPoint === m.mountPoint));
  const kept: MountInfo[] = [];
  for (const m of visible) {
    const k = mountKind(m);
    if (k.kind === 'pseudo' || under(m.mountPoint, '/proc') || under(m.mountPoint, '/sys')) continue;
    if (k.kind === 'user' || (k.kind === 'network' && !src.networkMounts)) {
      b.skip(m.mountPoint, k.reason);
      continue;
    }
    // The same file system mounted twice (a bind mount): read where its widest part is mounted.
    const wider = visible.filter((n) => n !== m && n.device === m.device && !under(n.mountPoint, '/proc') && !under(n.mountPoint, '/sys') && under(m.root, n.root) && (n.root !== m.root || visible.indexOf(n) < visible.indexOf(m)));
    if (wider.length) {
      b.skip(m.mountPoint, `a second mount of ${m.root === '/' ? 'the file system' : `${m.root} of the file system`} mounted at ${wider[0]!.mountPoint}, scanned there`);
      continue;
    }
    kept.push(m);
  }
  const points = mounts.map((m) => m.mountPoint);
  for (const m of kept) {
    const path = src.sysroot + (m.mountPoint === '/' ? '' : m.mountPoint) || '/';
    const prune = [...new Set(points.filter((p) => p !== m.mountPoint && under(p, m.mountPoint)))];
    b.add({ path, why: 'filesystem', recursive: true, ...(prune.length ? { prune } : {}) });
  }
  await addProcesses(b, src.proc, true);
  return { roots: b.roots, skipped: b.skipped };
}

/** The platform's scanScope: the real machine's Quick or Full scope. */
export function linuxScanScope(type: ScanType, opts: { networkMounts?: boolean } = {}): Promise<ScanScope> {
  const source = { files: createSafeFiles(), networkMounts: opts.networkMounts ?? false };
  return type === 'Quick' ? quickScope(source) : fullScope(source);
}
