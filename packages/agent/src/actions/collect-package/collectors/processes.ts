import { csvLines } from '../format.js';
import { exeLink, parseBootTime, parseCmdline, parseProcStat, parseStatusUids, processStart } from '../parsers/proc.js';
import type { CollectContext, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, MAX_HASH_BYTES, users } from './common.js';

/** One row of Processes.csv. */
export interface ProcessRow {
  pid: number;
  ppid: number;
  user: string;
  uid: number | '';
  name: string;
  state: string;
  startTime: string;
  commandLine: string;
  exePath: string;
  exeSha256: string;
  exeDeleted: 'yes' | 'no' | '';
  cwd: string;
}

export const PROCESS_COLUMNS: (keyof ProcessRow)[] = ['pid', 'ppid', 'user', 'uid', 'name', 'state', 'startTime', 'commandLine', 'exePath', 'exeSha256', 'exeDeleted', 'cwd'];

/** Clock ticks per second (USER_HZ); 100 on every mainstream Linux build. */
async function clockTicks(ctx: CollectContext): Promise<number> {
  const r = await ctx.run('getconf', ['CLK_TCK'], { timeoutMs: 5_000 });
  const n = Number(r.stdout.trim());
  return r.code === 0 && n > 0 ? n : 100;
}

/** Shell-like quoting of argv for one readable CSV field. */
function joinArgv(argv: string[]): string {
  return argv.map((a) => (a === '' || /[\s"'\\]/.test(a) ? `'${a.replace(/'/g, `'\\''`)}'` : a)).join(' ');
}

/**
 * Reads every process from /proc, one at a time (read-only; no process is signalled or attached
 * to). `hashes: false` leaves exeSha256 blank, for a quick listing.
 */
export async function* listProcesses(ctx: CollectContext, opts: { hashes?: boolean } = {}): AsyncGenerator<ProcessRow> {
  const btime = parseBootTime((await ctx.readText('/proc/stat')) ?? '') ?? 0;
  const hz = await clockTicks(ctx);
  const names = new Map((await users(ctx)).map((u) => [u.uid, u.user]));
  // One hash per executable file (device + inode), however many processes run it.
  const hashes = new Map<string, string>();
  const pids = ((await ctx.readDir('/proc')) ?? []).filter((n) => /^\d+$/.test(n)).map(Number).sort((a, b) => a - b);
  for (const pid of pids) {
    if (ctx.signal.aborted) break;
    const dir = `/proc/${pid}`;
    const stat = parseProcStat((await ctx.readText(`${dir}/stat`).catch(() => null)) ?? '');
    if (!stat) continue; // exited while we looked
    const uids = parseStatusUids((await ctx.readText(`${dir}/status`).catch(() => null)) ?? '');
    const argv = parseCmdline((await ctx.readFile(`${dir}/cmdline`).catch(() => null)) ?? Buffer.alloc(0));
    const link = await ctx.readlink(`${dir}/exe`);
    const exe = link ? exeLink(link) : null;
    let sha = '';
    if (exe && opts.hashes !== false) {
      // Hash through /proc/<pid>/exe: it opens the running image even when the file was deleted or replaced.
      // /proc/<pid>/exe is a kernel magic link (its target is what the process runs, not a path a
      // user chose), so it is followed on purpose; only a regular file is hashed.
      const st = await ctx.stat(`${dir}/exe`, { trustLinks: true }).catch(() => null);
      if (st?.isFile() && st.size <= MAX_HASH_BYTES) {
        const key = `${st.dev}:${st.ino}`;
        sha = hashes.get(key) ?? (await ctx.sha256(`${dir}/exe`, { trustLinks: true }).catch(() => ''));
        if (sha) hashes.set(key, sha);
      }
    }
    const uid = uids?.[0];
    yield {
      pid,
      ppid: stat.ppid,
      user: uid === undefined ? '' : (names.get(uid) ?? String(uid)),
      uid: uid ?? '',
      name: stat.comm,
      state: stat.state,
      startTime: btime ? processStart(btime, stat.starttime, hz) : '',
      // Kernel threads have no command line; ps shows them as [name].
      commandLine: argv.length ? joinArgv(argv) : `[${stat.comm}]`,
      exePath: exe?.path ?? '',
      exeSha256: sha,
      exeDeleted: exe ? (exe.deleted ? 'yes' : 'no') : '',
      cwd: (await ctx.readlink(`${dir}/cwd`)) ?? '',
    };
  }
}

/** Processes: every process with its executable's hash and a flag for deleted executables. */
export const processes: Collector = {
  folder: 'Processes',
  name: 'processes',
  source: '/proc/<pid>/{stat,status,cmdline,exe,cwd}, /proc/stat (btime)',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    yield { name: 'Processes.csv', source: '/proc/<pid>/{stat,status,cmdline,exe,cwd}', content: csvLines(PROCESS_COLUMNS, listProcesses(ctx)) };
  },
};
