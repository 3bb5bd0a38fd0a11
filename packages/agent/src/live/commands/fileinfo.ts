import { createHash } from 'node:crypto';
import { addAbortSignal } from 'node:stream';
import { parseArgs } from '../args.js';
import { fsError, usageError } from '../errors.js';
import { fileType, isoTime, modeString, octalMode, printable } from '../format.js';
import { accountNames, statPath } from '../paths.js';
import type { CommandContext, LiveCommand } from '../types.js';

/** What `fileinfo` tells of a file, as the API gives it. */
export interface FileInfo {
  path: string;
  type: string;
  size: number;
  mode: string;
  permissions: string;
  uid: number;
  owner: string;
  gid: number;
  group: string;
  links: number;
  inode: number;
  device: number;
  accessed: string;
  modified: string;
  changed: string;
  /** null when the file system does not record it. */
  born: string | null;
  /** Where a symbolic link points (not followed). */
  target?: string;
  sha256?: string;
  sha1?: string;
  md5?: string;
  /** The packages that installed the path, and by which manager; null when no package manager is present. */
  package: { manager: 'dpkg' | 'rpm'; names: string[] } | null;
}

/**
 * `fileinfo`: a file's type, size, owner, mode and times, the SHA-256, SHA-1 and MD5 of a regular
 * file (read once, streamed), and the package that owns it. The path itself is described: a
 * symbolic link is shown with its target, never followed; a FIFO, socket or device is never opened.
 */
export const fileinfo: LiveCommand = {
  name: 'fileinfo',
  summary: "Show a file's type, size, hashes, owner, mode, times and owning package",
  usage: 'fileinfo <path>',
  level: 'basic',
  async run(args, ctx) {
    const { operands } = parseArgs(this, args, { maxOperands: 1 });
    if (operands[0] === undefined) throw usageError(this);
    const path = ctx.resolve(operands[0]);
    const st = await statPath(ctx.files, path, { follow: false });
    const names = await accountNames(ctx.files);
    const target = st.isSymbolicLink() ? await ctx.files.readlink(path) : null;
    const info: FileInfo = {
      path,
      type: fileType(st),
      size: st.size,
      mode: modeString(st),
      permissions: octalMode(st),
      uid: st.uid,
      owner: names.user(st.uid),
      gid: st.gid,
      group: names.group(st.gid),
      links: st.nlink,
      inode: st.ino,
      device: st.dev,
      accessed: isoTime(st.atime),
      modified: isoTime(st.mtime),
      changed: isoTime(st.ctime),
      // Node reports 0 when the file system (or statx) gives no birth time.
      born: st.birthtimeMs ? isoTime(st.birthtime) : null,
      ...(target !== null ? { target } : {}),
      package: null,
    };
    let error: string | undefined;
    if (st.isFile()) {
      try {
        Object.assign(info, await hashes(ctx, path));
      } catch (e) {
        ctx.signal.throwIfAborted();
        error = `${fsError(e, printable(path)).message} (no hashes)`;
      }
    } else if (!st.isDirectory() && !st.isSymbolicLink()) {
      error = `${printable(path)}: a ${info.type} is never opened, so it has no hashes`;
    }
    if (st.isFile() || st.isDirectory() || st.isSymbolicLink()) info.package = await owningPackage(ctx, path);

    const rows: [string, string][] = [
      ['path', printable(info.path)],
      ['type', info.type + (target !== null ? ` to ${printable(target)} (not followed)` : '')],
      ['size', `${info.size} bytes`],
      ['mode', `${info.mode} (${info.permissions})`],
      ['owner', `${printable(info.owner)} (${info.uid})`],
      ['group', `${printable(info.group)} (${info.gid})`],
      ['links', String(info.links)],
      ['inode', `${info.inode} on device ${info.device}`],
      ['accessed', info.accessed],
      ['modified', info.modified],
      ['changed', info.changed],
      ['born', info.born ?? 'not recorded by this file system'],
    ];
    if (info.sha256) rows.push(['sha256', info.sha256], ['sha1', info.sha1!], ['md5', info.md5!]);
    if (st.isFile() || st.isDirectory() || st.isSymbolicLink()) {
      rows.push(['package', info.package ? (info.package.names.length ? `${info.package.names.map(printable).join(', ')} (${info.package.manager})` : `none: not installed by a package (${info.package.manager})`) : 'unknown: no package manager (dpkg, rpm) here']);
    }
    const width = Math.max(...rows.map(([k]) => k.length)) + 1;
    ctx.write(rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}\n`).join(''));
    return { data: info, ...(error ? { error } : {}) };
  },
};

/** SHA-256, SHA-1 and MD5 of a regular file, read once as a stream (never whole into memory). */
async function hashes(ctx: CommandContext, path: string): Promise<{ sha256: string; sha1: string; md5: string }> {
  const h = { sha256: createHash('sha256'), sha1: createHash('sha1'), md5: createHash('md5') };
  // Safe file access opens regular files only (O_NOFOLLOW | O_NONBLOCK, fstat checked): a file swapped for a FIFO is refused.
  const stream = addAbortSignal(ctx.signal, ctx.files.openFile(path));
  for await (const chunk of stream) for (const x of Object.values(h)) x.update(chunk as Buffer);
  return { sha256: h.sha256.digest('hex'), sha1: h.sha1.digest('hex'), md5: h.md5.digest('hex') };
}

/**
 * The packages that installed a path: `dpkg -S`, else `rpm -qf`. dpkg names merged-/usr files by
 * their old path (/bin/ls, not /usr/bin/ls), so the other spelling is tried too. dpkg reads its
 * argument as a pattern: only lines naming exactly the path count.
 */
async function owningPackage(ctx: CommandContext, path: string): Promise<FileInfo['package']> {
  const spellings = [path, path.startsWith('/usr/') ? path.slice(4) : `/usr${path}`];
  for (const p of spellings) {
    const r = await ctx.run('dpkg', ['-S', p]);
    if (r.code === 127) break;
    const line = r.stdout.split('\n').find((l) => l.endsWith(`: ${p}`) && !l.startsWith('diversion by '));
    if (line) return { manager: 'dpkg', names: line.slice(0, -(p.length + 2)).split(', ') };
    if (p === spellings[1]) return { manager: 'dpkg', names: [] };
  }
  const r = await ctx.run('rpm', ['-qf', path]);
  if (r.code === 127) return null;
  return { manager: 'rpm', names: r.code === 0 ? r.stdout.split('\n').filter((l) => l && !l.includes(' ')) : [] };
}

