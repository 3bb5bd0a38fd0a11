import { compressIpv6 } from './proc.js';

/** Size of `struct utmp` on Linux x86_64 and aarch64 (glibc, 32-bit time fields). */
export const UTMP_SIZE = 384;

const TYPES = ['EMPTY', 'RUN_LVL', 'BOOT_TIME', 'NEW_TIME', 'OLD_TIME', 'INIT_PROCESS', 'LOGIN_PROCESS', 'USER_PROCESS', 'DEAD_PROCESS', 'ACCOUNTING'];

/** One record of utmp, wtmp or btmp. */
export interface UtmpRecord {
  type: string;
  pid: number;
  line: string;
  id: string;
  user: string;
  host: string;
  address: string;
  exit: string;
  session: number;
  time: string;
}

function cstr(b: Buffer): string {
  const nul = b.indexOf(0);
  return (nul < 0 ? b : b.subarray(0, nul)).toString('utf8');
}

function address(b: Buffer): string {
  if (b.every((x) => x === 0)) return '';
  // glibc stores IPv4 in the first word and zeroes the rest.
  if (b.subarray(4).every((x) => x === 0)) return [...b.subarray(0, 4)].join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return compressIpv6(groups);
}

/**
 * Parses utmp-format records (wtmp: logins and logouts, btmp: failed logins). A trailing partial
 * record (a file being written) is ignored.
 */
export function parseUtmp(buf: Buffer): UtmpRecord[] {
  const out: UtmpRecord[] = [];
  for (let off = 0; off + UTMP_SIZE <= buf.length; off += UTMP_SIZE) {
    const r = buf.subarray(off, off + UTMP_SIZE);
    const type = r.readInt16LE(0);
    if (type === 0) continue;
    const sec = r.readInt32LE(340);
    const usec = r.readInt32LE(344);
    const term = r.readInt16LE(332);
    const exit = r.readInt16LE(334);
    out.push({
      type: TYPES[type] ?? String(type),
      pid: r.readInt32LE(4),
      line: cstr(r.subarray(8, 40)),
      id: cstr(r.subarray(40, 44)),
      user: cstr(r.subarray(44, 76)),
      host: cstr(r.subarray(76, 332)),
      address: address(r.subarray(348, 364)),
      exit: term || exit ? `${term}/${exit}` : '',
      session: r.readInt32LE(336),
      time: new Date(sec * 1000 + Math.floor(usec / 1000)).toISOString(),
    });
  }
  return out;
}

/** Size of `struct lastlog` (int32 time, line[32], host[256]); the file is indexed by uid. */
export const LASTLOG_SIZE = 292;

/** One user's last login from /var/log/lastlog; `record` is the 292 bytes at uid * 292. */
export function parseLastlogRecord(record: Buffer): { time: string; line: string; host: string } | null {
  if (record.length < LASTLOG_SIZE) return null;
  const t = record.readInt32LE(0);
  if (t === 0) return null;
  return { time: new Date(t * 1000).toISOString(), line: cstr(record.subarray(4, 36)), host: cstr(record.subarray(36, 292)) };
}
