/** The fields of /proc/<pid>/stat the Processes CSV needs. */
export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** Start time in clock ticks after boot. */
  starttime: number;
}

/**
 * Parses /proc/<pid>/stat. The command name sits in parentheses and may itself contain spaces
 * and parentheses, so the fields after it are found from the LAST ')'.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  const rest = text.slice(close + 2).trim().split(/\s+/);
  // rest[0] is field 3 (state); starttime is field 22 -> rest[19].
  const ppid = Number(rest[1]);
  const starttime = Number(rest[19]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid) || !Number.isFinite(starttime)) return null;
  return { pid, comm: text.slice(open + 1, close), state: rest[0] ?? '', ppid, starttime };
}

/** Real, effective, saved and filesystem uids from /proc/<pid>/status. */
export function parseStatusUids(text: string): number[] | null {
  const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(text);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] : null;
}

/** /proc/<pid>/cmdline: arguments separated (and ended) by NUL. */
export function parseCmdline(buf: Buffer): string[] {
  const s = buf.toString('utf8');
  const parts = s.split('\0');
  if (parts.at(-1) === '') parts.pop();
  return parts;
}

/** The kernel's `btime` (boot time, epoch seconds) from /proc/stat. */
export function parseBootTime(text: string): number | null {
  const m = /^btime\s+(\d+)/m.exec(text);
  return m ? Number(m[1]) : null;
}

/** A process's start time: boot time plus its start in clock ticks. */
export function processStart(btime: number, starttimeTicks: number, clkTck = 100): string {
  return new Date(btime * 1000 + Math.round((starttimeTicks / clkTck) * 1000)).toISOString();
}

/** /proc/<pid>/exe points at "<path> (deleted)" when the file was removed after it started. */
export function exeLink(target: string): { path: string; deleted: boolean } {
  const deleted = target.endsWith(' (deleted)');
  return { path: deleted ? target.slice(0, -' (deleted)'.length) : target, deleted };
}

/** One socket from /proc/net/{tcp,tcp6,udp,udp6}. */
export interface ProcNetSocket {
  proto: string;
  local: string;
  remote: string;
  state: string;
  uid: number;
  inode: number;
}

const TCP_STATES: Record<string, string> = {
  '01': 'ESTABLISHED', '02': 'SYN-SENT', '03': 'SYN-RECV', '04': 'FIN-WAIT-1', '05': 'FIN-WAIT-2', '06': 'TIME-WAIT',
  '07': 'CLOSE', '08': 'CLOSE-WAIT', '09': 'LAST-ACK', '0A': 'LISTEN', '0B': 'CLOSING', '0C': 'NEW-SYN-RECV',
};

/** Decodes the kernel's hex "address:port" (little-endian 32-bit words) into text. */
export function decodeProcNetAddress(hex: string): string {
  const [addr, port] = hex.split(':');
  const p = parseInt(port ?? '0', 16);
  if (!addr) return '';
  const words: Buffer[] = [];
  for (let i = 0; i < addr.length; i += 8) {
    const w = Buffer.from(addr.slice(i, i + 8), 'hex');
    words.push(Buffer.from(w.reverse()));
  }
  const b = Buffer.concat(words);
  if (b.length === 4) return `${[...b].join('.')}:${p}`;
  // IPv4-mapped IPv6 (::ffff:a.b.c.d) reads better in dotted form.
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff) return `[::ffff:${[...b.subarray(12)].join('.')}]:${p}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  return `[${compressIpv6(groups)}]:${p}`;
}

/** RFC 5952 text of eight hex groups: the longest run (two or more) of zero groups becomes '::'. */
export function compressIpv6(groups: string[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < groups.length; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestAt < 0) return groups.join(':');
  return `${groups.slice(0, bestAt).join(':')}::${groups.slice(bestAt + bestLen).join(':')}`;
}

/** Parses /proc/net/tcp, tcp6, udp or udp6 (`proto` names which). */
export function parseProcNet(text: string, proto: string): ProcNetSocket[] {
  const out: ProcNetSocket[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const st = f[3]!;
    out.push({
      proto,
      local: decodeProcNetAddress(f[1]!),
      remote: decodeProcNetAddress(f[2]!),
      state: proto.startsWith('tcp') ? (TCP_STATES[st] ?? st) : st === '07' ? 'UNCONN' : st === '01' ? 'ESTAB' : st,
      uid: Number(f[7]),
      inode: Number(f[9]),
    });
  }
  return out;
}
