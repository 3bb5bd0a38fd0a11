import { notPresent, toCsv } from '../format.js';
import { parseLastlogRecord, parseUtmp, LASTLOG_SIZE, type UtmpRecord } from '../parsers/utmp.js';
import type { CollectContext, CollectedFile, Collector } from '../types.js';
import { DEFAULT_MAX_BYTES, DEFAULT_TIMEOUT_MS, users } from './common.js';

const UTMP_COLUMNS: (keyof UtmpRecord)[] = ['time', 'type', 'user', 'line', 'host', 'address', 'pid', 'id', 'session', 'exit'];

/** The programs whose journal entries are authentication events. */
export const AUTH_IDENTIFIERS = ['sshd', 'sudo', 'su', 'login', 'systemd-logind', 'polkitd', 'passwd', 'useradd', 'usermod', 'groupadd', 'chpasswd'];

/** Last login per account from /var/log/lastlog (a sparse file indexed by uid). */
export async function lastLogins(ctx: CollectContext): Promise<{ user: string; uid: number; time: string; line: string; host: string }[] | null> {
  const st = await ctx.stat('/var/log/lastlog');
  if (!st) return null;
  const out: { user: string; uid: number; time: string; line: string; host: string }[] = [];
  for (const u of await users(ctx)) {
    if (u.uid < 0 || (u.uid + 1) * LASTLOG_SIZE > st.size) continue;
    const rec = parseLastlogRecord((await ctx.readRange('/var/log/lastlog', u.uid * LASTLOG_SIZE, LASTLOG_SIZE)) ?? Buffer.alloc(0));
    if (rec) out.push({ user: u.user, uid: u.uid, ...rec });
  }
  return out;
}

async function utmpFile(ctx: CollectContext, name: string, paths: string[]): Promise<CollectedFile> {
  const found: string[] = [];
  const rows: (UtmpRecord & { file: string })[] = [];
  for (const p of paths) {
    const buf = await ctx.readFile(p).catch(() => null);
    if (!buf) continue;
    found.push(p);
    rows.push(...parseUtmp(buf).map((r) => ({ ...r, file: p })));
  }
  if (!found.length) return notPresent(name, paths.join(', '));
  return { name, source: found.join(', '), content: toCsv([...UTMP_COLUMNS, 'file'], rows) };
}

/** Security event log: authentication logs (files or journal), wtmp/btmp/utmp, lastlog. */
export const securityEventLog: Collector = {
  folder: 'Security event log',
  name: 'security-event-log',
  source: '/var/log/auth.log, /var/log/secure, journalctl (sshd, sudo, su, login, logind), wtmp, btmp, utmp, lastlog',
  timeoutMs: DEFAULT_TIMEOUT_MS,
  maxBytes: DEFAULT_MAX_BYTES,
  async *collect(ctx) {
    let files = 0;
    for (const dir of ['/var/log']) {
      for (const n of ((await ctx.readDir(dir)) ?? []).sort()) {
        // Uncompressed current and rotated logs; .gz rotations are left out (they would need a decompressor stream).
        if (!/^(auth\.log|secure)(\.\d+|-\d{8})?$/.test(n)) continue;
        files++;
        yield { name: `${n}.txt`, source: `${dir}/${n}`, content: ctx.openFile(`${dir}/${n}`) };
      }
    }
    const journal = await ctx.run('journalctl', ['--version'], { timeoutMs: 5_000 });
    if (journal.code === 0) {
      const args = ['--no-pager', '-q', '-o', 'short-iso', '--since', '-30d', ...AUTH_IDENTIFIERS.map((i) => `SYSLOG_IDENTIFIER=${i}`)];
      // Probe for one entry first: an empty journal (no systemd, volatile storage) gets a file that says so.
      const probe = await ctx.run('journalctl', [...args, '-n', '1']);
      yield probe.stdout.trim()
        ? { name: 'JournalAuthentication.txt', source: `journalctl ${args.join(' ')}`, content: ctx.stream('journalctl', args) }
        : notPresent('JournalAuthentication.txt', `journalctl ${args.join(' ')}`, `no journal entries${probe.stderr.trim() ? `: ${probe.stderr.trim().slice(0, 200)}` : ''}`);
    } else if (!files) {
      yield notPresent('AuthenticationLog.txt', '/var/log/auth.log, /var/log/secure and the systemd journal');
    }
    yield await utmpFile(ctx, 'Wtmp.csv', ['/var/log/wtmp', '/var/log/wtmp.1']);
    yield await utmpFile(ctx, 'Btmp.csv', ['/var/log/btmp', '/var/log/btmp.1']);
    yield await utmpFile(ctx, 'Utmp_CurrentSessions.csv', ['/run/utmp']);
    const ll = await lastLogins(ctx);
    yield ll ? { name: 'Lastlog.csv', source: '/var/log/lastlog', content: toCsv(['user', 'uid', 'time', 'line', 'host'], ll) } : notPresent('Lastlog.csv', '/var/log/lastlog');
  },
};
