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
  for (const root of EXEC_DIRS) {
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
        const st = await ctx.stat(p);
        if (!st?.isFile()) continue;
        histories++;
        const file: CollectedFile = { name: `History_${safeName(h.user)}_${safeName(f)}.txt`, source: p, content: ctx.openFile(p) };
        yield file;
      }
    }
    if (!histories) yield notPresent('ShellHistories.txt', 'shell history files in home directories', 'no user has one');

    const { rows, pruned } = await recentlyChanged(ctx, 30);
    yield {
      name: 'RecentlyChangedExecutables.csv',
      source: `executables with mtime or ctime in the last 30 days under ${EXEC_DIRS.join(', ')}${pruned ? ' (walk bounded: some directories not listed)' : ''}`,
      content: toCsv(['path', 'size', 'owner', 'mode', 'mtime', 'ctime', 'sha256'], rows),
    };

    const aus = await ctx.run('ausearch', ['-m', 'EXECVE', '-i', '--start', 'this-month']);
    if (aus.code === 0 || (aus.code === 1 && /no matches/i.test(aus.stderr))) {
      yield { name: 'AuditExecve.txt', source: 'ausearch -m EXECVE -i --start this-month', content: aus.stdout || 'auditd runs, but recorded no execve events (no audit rule for execve?)\n' };
    } else if (await ctx.stat('/var/log/audit/audit.log')) {
      const text = (await ctx.readText('/var/log/audit/audit.log')) ?? '';
      yield { name: 'AuditExecve.txt', source: '/var/log/audit/audit.log (type=EXECVE and execve SYSCALL lines)', content: `${text.split('\n').filter((l) => /type=EXECVE|syscall=59\b|syscall=execve/.test(l)).join('\n')}\n` };
    } else {
      yield notPresent('AuditExecve.txt', 'auditd (ausearch, /var/log/audit/audit.log)');
    }
  },
};
