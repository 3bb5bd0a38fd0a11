/*
 * Pure parsers behind the scan scope (scan-scope.ts): the text of /proc and of the files that start
 * programs in, the paths they name out. Table-tested on fixture text in scan-parsers.test.ts.
 */

/** One line of /proc/<pid>/mountinfo. */
export interface MountInfo {
  /** major:minor of the file system (as in the line). */
  device: string;
  /** The directory of the file system that is mounted here ('/' unless a bind mount of a subtree). */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** The kernel writes space, tab, newline and backslash in paths as octal escapes (`\040`). */
export function unescapeOctal(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/**
 * Parses /proc/self/mountinfo: `id parent major:minor root mountpoint options [optional...] - type source superoptions`.
 * The optional fields end at a lone `-`; malformed lines are skipped.
 */
export function parseMountinfo(text: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    const dash = f.indexOf('-', 6);
    if (f.length < 10 || dash < 0 || f.length < dash + 3 || !/^\d+:\d+$/.test(f[2]!)) continue;
    out.push({ device: f[2]!, root: unescapeOctal(f[3]!), mountPoint: unescapeOctal(f[4]!), fsType: f[dash + 1]!, source: unescapeOctal(f[dash + 2]!), superOptions: f[dash + 3] ?? '' });
  }
  return out;
}

/**
 * File systems with no files of the disk: kernel interfaces (reading /proc/kcore or a sysfs file
 * is not scanning), and autofs, whose walk would trigger every automount. tmpfs and ramfs are kept
 * (/tmp and /dev/shm are tmpfs, and malware lives there), overlay too (a container's root).
 * squashfs is kept: snaps are local, read-only software, and store snaps have shipped miners.
 */
export const PSEUDO_FS = new Set([
  'proc', 'sysfs', 'devtmpfs', 'devpts', 'cgroup', 'cgroup2', 'securityfs', 'debugfs', 'tracefs', 'bpf', 'pstore', 'mqueue', 'hugetlbfs',
  'configfs', 'fusectl', 'autofs', 'binfmt_misc', 'efivarfs', 'selinuxfs', 'nsfs', 'rpc_pipefs', 'nfsd', 'fuse.lxcfs', 'fuse.portal', 'fuse.gvfsd-fuse',
]);

/** File systems whose files live on another machine (or the VM's host: 9p, virtiofs, vboxsf): scanned where they live. */
export const NETWORK_FS = new Set([
  'nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'ncpfs', 'afs', 'ceph', 'glusterfs', 'lustre', 'gpfs', 'davfs', '9p', 'virtiofs', 'vboxsf', 'sshfs',
  'fuse.sshfs', 'fuse.ceph', 'fuse.cephfs', 'fuse.glusterfs', 'fuse.rclone', 'fuse.s3fs', 'fuse.davfs', 'fuse.gcsfuse', 'fuse.juicefs',
]);

/** How a scan treats a mount; `reason` says why one is left out. */
export type MountKind = { kind: 'local' } | { kind: 'pseudo' } | { kind: 'network' | 'user'; reason: string };

export function mountKind(m: MountInfo): MountKind {
  if (PSEUDO_FS.has(m.fsType)) return { kind: 'pseudo' };
  // A FUSE file system answers from a program; one a user runs could stall the scan (or lie to it), network or not.
  const fuseUser = /(?:^|,)user_id=(\d+)(?:,|$)/.exec(m.superOptions)?.[1];
  if ((m.fsType === 'fuse' || m.fsType.startsWith('fuse.')) && fuseUser !== undefined && fuseUser !== '0') {
    return { kind: 'user', reason: `${m.fsType} file system run by uid ${fuseUser}: its answers come from a user's program, which could stall the scan` };
  }
  if (NETWORK_FS.has(m.fsType)) return { kind: 'network', reason: `network file system (${m.fsType} from ${m.source}): left out unless network mounts are included` };
  return { kind: 'local' };
}

/** st_dev as stat() reports it, from major:minor (the kernel's new_encode_dev). */
export function encodeDev(major: number, minor: number): number {
  return (minor & 0xff) + major * 256 + (minor & ~0xff) * 4096;
}

/** One file-backed mapping of /proc/<pid>/maps. */
export interface MapEntry {
  /** The address range as /proc/<pid>/map_files names it (hex, no leading zeros). */
  range: string;
  /** st_dev of the mapped file (see {@link encodeDev}). */
  dev: number;
  inode: number;
  path: string;
  /** The file was deleted (or replaced) after it was mapped; memfds read as deleted too. */
  deleted: boolean;
}

/**
 * Parses /proc/<pid>/maps, keeping mappings of files (an absolute path and an inode): not the heap,
 * the stack, [vdso] or anonymous memory. The path is everything after the inode, and may hold spaces.
 */
export function parseMaps(text: string): MapEntry[] {
  const out: MapEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+)\s+\S+\s+[0-9a-f]+\s+([0-9a-f]+):([0-9a-f]+)\s+(\d+)\s+(\/.*)$/.exec(line);
    if (!m || m[5] === '0') continue;
    const raw = m[6]!.replace(/\\012/g, '\n');
    const deleted = raw.endsWith(' (deleted)');
    const path = deleted ? raw.slice(0, -' (deleted)'.length) : raw;
    out.push({ range: `${BigInt(`0x${m[1]}`).toString(16)}-${BigInt(`0x${m[2]}`).toString(16)}`, dev: encodeDev(parseInt(m[3]!, 16), parseInt(m[4]!, 16)), inode: Number(m[5]), path, deleted });
  }
  return out;
}

/**
 * Mapped "files" that are memory, not files a scan should read: SysV shared memory, shared
 * anonymous and huge-page mappings, and devices (a GPU, /dev/zero). /dev/shm is files.
 */
export function mappedMemory(path: string): boolean {
  return /^\/(SYSV[0-9a-f]+$|anon_hugepage$|\[|drm mm object|dev\/(?!shm\/))/.test(path);
}

/** /proc/<pid>/exe points at "<path> (deleted)" when the program was removed (or replaced) after it started. */
export function exeTarget(link: string): { path: string; deleted: boolean } {
  const deleted = link.endsWith(' (deleted)');
  return { path: deleted ? link.slice(0, -' (deleted)'.length) : link, deleted };
}

/** Accounts of /etc/passwd whose homes a Quick scan reads: root and people (uid >= 1000), not nobody. */
export function scanAccounts(text: string): { user: string; uid: number; home: string }[] {
  const out: { user: string; uid: number; home: string }[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 7 || !f[0] || /^[+\-#]/.test(f[0]) || !/^\d+$/.test(f[2]!)) continue;
    const uid = Number(f[2]);
    const home = f[5]!;
    if ((uid === 0 || uid >= 1000) && uid !== 65534 && home.startsWith('/') && home !== '/') out.push({ user: f[0], uid, home });
  }
  return out;
}

/** Where a program named without a path is looked for (systemd's fixed list, and cron's PATH). */
export const PROGRAM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/**
 * The commands of a systemd unit (every Exec*= key: ExecStart, ExecStartPre, ExecStop..., ExecReload)
 * or of a desktop entry (Exec=), with systemd's prefixes (`-@:+!`) taken off. `\` continues a line;
 * an empty assignment resets the list, as systemd does. `%h` is the user's home for user units.
 */
export function unitCommands(text: string, opts: { home?: string } = {}): string[] {
  const out = new Map<string, string[]>();
  for (const raw of text.replace(/\\\r?\n/g, ' ').split(/\r?\n/)) {
    const m = /^\s*(Exec[A-Za-z]*)\s*=\s*(.*?)\s*$/.exec(raw);
    if (!m) continue;
    const key = m[1]!;
    const value = m[2]!.replace(/^[-@:+!]+/, '');
    if (!value) out.set(key, []);
    else out.set(key, [...(out.get(key) ?? []), opts.home ? value.replace(/%h/g, opts.home) : value]);
  }
  return [...out.values()].flat();
}

/**
 * Commands of a crontab: system ones (/etc/crontab, /etc/cron.d) carry a user after the schedule,
 * per-user ones (/var/spool/cron) do not. Comments, environment assignments (`MAILTO=x`,
 * `SHELL = /bin/sh`) and blank lines are skipped; `@reboot` and the other @ schedules are read;
 * an unescaped `%` ends the command (what follows is its standard input).
 */
export function cronCommands(text: string, opts: { system: boolean }): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || /^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line)) continue;
    const fields = opts.system ? 1 : 0;
    const m = line.startsWith('@') ? new RegExp(`^@\\w+\\s+${'\\S+\\s+'.repeat(fields)}(.*)$`).exec(line) : new RegExp(`^(?:\\S+\\s+){${5 + fields}}(.*)$`).exec(line);
    if (!m) continue;
    const command = m[1]!.replace(/(^|[^\\])%.*$/, '$1').trim();
    if (command) out.push(command);
  }
  return out;
}

/** Commands of /etc/anacrontab: `period delay job-identifier command`. */
export function anacronCommands(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || /^[A-Za-z_][A-Za-z0-9_]*\s*=/.test(line)) continue;
    const m = /^\S+\s+\S+\s+\S+\s+(.*)$/.exec(line);
    if (m) out.push(m[1]!.trim());
  }
  return out;
}

/** Libraries /etc/ld.so.preload names: separated by spaces, tabs, newlines or colons; `#` comments. */
export function preloadEntries(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.replace(/#.*$/, ''))
    .join(' ')
    .split(/[\s:]+/)
    .filter(Boolean);
}

/**
 * The forced commands of an authorized_keys file (`command="..."` among a key's options, `\"`
 * escaping a quote). Options come before the key type; a line that starts with the key has none.
 */
export function authorizedKeyCommands(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || /^(ssh-|ecdsa-|sk-)/.test(line)) continue;
    // Options end at the first space outside quotes.
    let i = 0;
    let quoted = false;
    for (; i < line.length; i++) {
      const c = line[i]!;
      if (c === '\\' && quoted) i++;
      else if (c === '"') quoted = !quoted;
      else if (!quoted && (c === ' ' || c === '\t')) break;
    }
    const options = line.slice(0, i);
    for (const m of options.matchAll(/(?:^|,)command="((?:[^"\\]|\\.)*)"/gi)) out.push(m[1]!.replace(/\\"/g, '"'));
  }
  return out;
}

/**
 * Absolute paths a command line or script line names: the program and any argument, option value
 * (`--config=/x`), assignment (`LD_PRELOAD=/x`) or redirection that is a path. Paths with variables,
 * globs or `%` specifiers are left out (they are not one file); the caller keeps those that are files.
 */
export function commandPaths(command: string): string[] {
  const out = new Set<string>();
  for (const m of command.matchAll(/(?:^|[\s;|&()<>`'"=:,])(\/[^\s;|&()<>`'"=:,]*)/g)) {
    const p = m[1]!.replace(/\/+$/, '');
    if (p && !p.startsWith('//') && !/[$*?[\]{}%\\]/.test(p)) out.add(p);
  }
  return [...out];
}

/** A command's program when it is named without a path (`sleep 10`): the places it would be found. */
export function bareProgram(command: string): string[] {
  const first = /^\s*(?:[A-Za-z_][A-Za-z0-9_]*=\S*\s+)*([A-Za-z0-9._+-]+)(?:\s|$)/.exec(command)?.[1];
  return first ? PROGRAM_DIRS.map((d) => `${d}/${first}`) : [];
}

/** The download directory of ~/.config/user-dirs.dirs (`XDG_DOWNLOAD_DIR="$HOME/Téléchargements"`), or null. */
export function xdgDownloadDir(text: string, home: string): string | null {
  const m = /^\s*XDG_DOWNLOAD_DIR\s*=\s*"([^"]*)"/m.exec(text);
  if (!m) return null;
  const p = m[1]!.replace(/^\$HOME(?=\/|$)/, home);
  return p.startsWith('/') && p !== home ? p.replace(/\/+$/, '') : null;
}
