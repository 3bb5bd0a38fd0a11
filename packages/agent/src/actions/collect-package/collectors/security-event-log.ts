import type { Readable } from 'node:stream';
import { csvLines, notPresent, toCsv } from '../format.js';
import { parseLastlogRecord, parseUtmp, LASTLOG_SIZE, UTMP_SIZE, type UtmpRecord } from '../parsers/utmp.js';
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

/** wtmp/btmp larger than this are read from their end (the newest records); ~87,000 records. */
export const UTMP_MAX_BYTES = 32 * 1024 * 1024;

/** utmp records from a byte stream, a chunk at a time (a record split across chunks is joined). */
export async function* utmpRecords(stream: Readable): AsyncGenerator<UtmpRecord> {
  let rest = Buffer.alloc(0);
  for await (const c of stream as AsyncIterable<Buffer>) {
    const buf = rest.length ? Buffer.concat([rest, c]) : c;
    const whole = buf.length - (buf.length % UTMP_SIZE);
    yield* parseUtmp(buf.subarray(0, whole));
    rest = Buffer.from(buf.subarray(whole));
  }
}

/**
 * wtmp/btmp/utmp as CSV, streamed: the size is checked first and at most `maxBytes` of each file
 * (its newest records, from a record boundary) are read, so a 2 GB btmp never sits in memory.
 */
export async function utmpFile(ctx: CollectContext, name: string, paths: string[], maxBytes = UTMP_MAX_BYTES): Promise<CollectedFile> {
  const found: { path: string; start: number; size: number }[] = [];
  for (const p of paths) {
    const st = await ctx.stat(p).catch(() => null);
    if (!st?.isFile()) continue;
    const start = st.size > maxBytes ? Math.ceil((st.size - maxBytes) / UTMP_SIZE) * UTMP_SIZE : 0;
    found.push({ path: p, start, size: st.size });
  }
  if (!found.length) return notPresent(name, paths.join(', '));
  async function* rows(): AsyncGenerator<UtmpRecord & { file: string }> {
    for (const f of found) {
      for await (const r of utmpRecords(ctx.openFile(f.path, { start: f.start, length: f.size - f.start }))) yield { ...r, file: f.path };
    }
  }
  const cut = found.filter((f) => f.start > 0);
  return {
    name,
    source: found.map((f) => (f.start ? `${f.path} (last ${f.size - f.start} of ${f.size} bytes)` : f.path)).join(', '),
    content: csvLines([...UTMP_COLUMNS, 'file'], rows()),
    ...(cut.length
      ? { status: 'Truncated' as const, error: { code: 'SourceSizeCap', message: `Only the newest ${maxBytes} bytes of ${cut.map((f) => `${f.path} (${f.size} bytes)`).join(', ')} were read` } }
      : {}),
  };
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
