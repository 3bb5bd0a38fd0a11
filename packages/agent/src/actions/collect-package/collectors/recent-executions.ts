import type { Readable } from 'node:stream';
import { notPresent, safeName, toCsv } from '../format.js';
import type { CollectContext, CollectedFile, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, hashOrBlank, homes, isExecutable, ownerName, users, walk } from './common.js';

const HISTORY_FILES = ['.bash_history', '.zsh_history', '.zhistory', '.histfile', '.sh_history', '.ash_history', '.local/share/fish/fish_history', '.python_history', '.mysql_history', '.psql_history', '.lesshst', '.viminfo', '.wget-hsts'];

/** Directories where programs live or get dropped; walked for executables changed recently. */
export const EXEC_DIRS = ['/bin', '/sbin', '/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/usr/lib/systemd', '/opt', '/tmp', '/var/tmp', '/dev/shm', '/run', '/etc', '/var/www', '/srv', '/root', '/home'];

/** Executables whose content or metadata changed within `days` (mtime or ctime). */
export async function recentlyChanged(ctx: CollectContext, days: number) {
  const since = ctx.now().getTime() - days * 86_400_000;
  const byUid = new Map((await users(ctx)).map((u) => [u.uid, u.user]));
  const rows: { path: string; size: number; owner: string; mode: string; mtime: string; ctime: string; sha256: string }[] = [];
  let pruned = false;
  for (const root of ctx.roots?.programs ?? EXEC_DIRS) {
    // /bin -> usr/bin on merged-/usr systems: walk each real directory once.
    if ((await ctx.lstat(root))?.isSymbolicLink()) continue;
    // Bounded per root, so one huge home directory cannot starve the others.
    const state = { count: 0, pruned: false };
    for await (const { path, st } of walk(ctx, root, { maxDepth: 10, maxEntries: 100_000, state, skip: (p) => p.endsWith('/node_modules') || p.endsWith('/.git') })) {
      if (!st.isFile() || Math.max(st.mtimeMs, st.ctimeMs) < since) continue;
      if (!(await isExecutable(ctx, path, st))) continue;
      rows.push({ path, size: st.size, owner: ownerName(byUid, st.uid), mode: (st.mode & 0o7777).toString(8), mtime: st.mtime.toISOString(), ctime: st.ctime.toISOString(), sha256: await hashOrBlank(ctx, path, st.size) });
    }
    pruned ||= state.pruned;
  }
  rows.sort((a, b) => b.ctime.localeCompare(a.ctime));
  return { rows, pruned };
}

/** audit.log larger than this is read from its end (the newest records). */
export const AUDIT_TAIL_BYTES = 32 * 1024 * 1024;
export const AUDIT_LOG = '/var/log/audit/audit.log';
const MAX_AUDIT_LINE = 256 * 1024;

/** The execve lines of an audit log stream, line by line (a first partial line is dropped when `fromMiddle`). */
async function* execveLines(stream: Readable, fromMiddle: boolean): AsyncGenerator<string> {
  let rest = '';
  let first = fromMiddle;
  const wanted = (l: string) => /type=EXECVE|syscall=59\b|syscall=execve/.test(l);
  for await (const c of stream as AsyncIterable<Buffer>) {
    const lines = (rest + c.toString('latin1')).split('\n');
    rest = lines.pop() ?? '';
    if (first && lines.length) {
      lines.shift();
      first = false;
    }
    const hits = lines.filter(wanted);
    if (hits.length) yield Buffer.from(`${hits.join('\n')}\n`, 'latin1').toString('utf8');
    // No audit record is this long (the kernel splits EXECVE at ~8 KB): a run without line breaks
    // (a damaged or sparse file) is dropped rather than held.
    if (rest.length > MAX_AUDIT_LINE) {
      rest = '';
      first = false;
    }
  }
  if (rest && !first && wanted(rest)) yield `${rest}\n`;
}

/**
 * The execve records of audit.log, streamed: its size is checked first and only its last
 * `maxBytes` are read (the file is marked Truncated then). Null when there is no such file.
 */
export async function auditExecve(ctx: CollectContext, path = AUDIT_LOG, maxBytes = AUDIT_TAIL_BYTES): Promise<CollectedFile | null> {
  const st = await ctx.stat(path).catch(() => null);
  if (!st?.isFile()) return null;
  const start = Math.max(0, st.size - maxBytes);
  return {
    name: 'AuditExecve.txt',
    source: `${path} (type=EXECVE and execve SYSCALL lines${start ? `; last ${st.size - start} of ${st.size} bytes` : ''})`,
    content: execveLines(ctx.openFile(path, { start, length: st.size - start }), start > 0),
    ...(start ? { status: 'Truncated' as const, error: { code: 'SourceSizeCap', message: `Only the last ${maxBytes} bytes of ${path} (${st.size} bytes) were read` } } : {}),
  };
}

/** Recent executions (the Windows Prefetch's counterpart): shell histories, recently changed executables, audit execve records. */
export const recentExecutions: Collector = {
  folder: 'Recent executions',
  name: 'recent-executions',
  source: '~/.bash_history and other histories; executables changed in 30 days; ausearch -m EXECVE or /var/log/audit/audit.log',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    let histories = 0;
    for (const h of await homes(ctx)) {
      for (const f of HISTORY_FILES) {
        const p = `${h.home}/${f}`;
        // lstat: a history that is a link (to /dev/null to hide commands, or to /etc/shadow to
        // make root copy it) is recorded as a link, never read through.
        const st = await ctx.lstat(p);
        if (!st) continue;
        const name = `History_${safeName(h.user)}_${safeName(f)}.txt`;
        if (st.isSymbolicLink()) {
          histories++;
          yield { name, source: p, content: `${p} is a symbolic link to ${(await ctx.readlink(p)) ?? '?'} (owner uid ${st.uid}); it was not followed.\n` };
          continue;
        }
        if (!st.isFile()) continue;
        histories++;
        const file: CollectedFile = { name, source: p, content: ctx.openFile(p) };
        yield file;
      }
    }
    if (!histories) yield notPresent('ShellHistories.txt', 'shell history files in home directories', 'no user has one');

    const { rows, pruned } = await recentlyChanged(ctx, 30);
    yield {
      name: 'RecentlyChangedExecutables.csv',
      source: `executables with mtime or ctime in the last 30 days under ${(ctx.roots?.programs ?? EXEC_DIRS).join(', ')}${pruned ? ' (walk bounded: some directories not listed)' : ''}`,
      content: toCsv(['path', 'size', 'owner', 'mode', 'mtime', 'ctime', 'sha256'], rows),
    };

    const aus = await ctx.run('ausearch', ['-m', 'EXECVE', '-i', '--start', 'this-month']);
    if (aus.code === 0 || (aus.code === 1 && /no matches/i.test(aus.stderr))) {
      yield { name: 'AuditExecve.txt', source: 'ausearch -m EXECVE -i --start this-month', content: aus.stdout || 'auditd runs, but recorded no execve events (no audit rule for execve?)\n' };
    } else {
      yield (await auditExecve(ctx)) ?? notPresent('AuditExecve.txt', 'auditd (ausearch, /var/log/audit/audit.log)');
    }
  },
};
