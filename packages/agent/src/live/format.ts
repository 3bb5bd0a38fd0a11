import type { Stats } from 'node:fs';

// Characters that drive a terminal or reorder what it shows: C0 controls (ESC, BEL, CR, line
// breaks…), DEL and C1 controls (U+009B is a CSI on its own), and bidirectional marks, overrides
// and isolates (as the CLI's safeText). File names, command lines and files' text come from the device.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

function escapeChar(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\t') return '\\t';
  if (c === '\r') return '\\r';
  const code = c.charCodeAt(0);
  return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * One field safe to show in a terminal: every unsafe character visibly escaped (\x1b, \r, \u202e),
 * so a file name or a command line cannot move the cursor, rewrite a line, reorder text or send
 * terminal commands; line breaks and tabs too, so one field stays on one line.
 */
export function printable(s: string): string {
  return s.replace(UNSAFE, escapeChar);
}

/** Like {@link printable}, but keeps line breaks and tabs: for whole output. */
export function terminalSafe(s: string): string {
  return s.replace(UNSAFE, (c) => (c === '\n' || c === '\t' ? c : escapeChar(c)));
}

/** Rows under a header, columns padded to their widest cell (the last one is not padded); `empty` when there are none. */
export function table(header: string[], rows: string[][], empty = 'None.'): string {
  if (!rows.length) return `${empty}\n`;
  const all = [header, ...rows];
  const widths = header.map((_, c) => Math.max(...all.map((r) => (r[c] ?? '').length)));
  return all.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ').trimEnd() + '\n').join('');
}

/** What kind of file this is, in words. */
export function fileType(st: Stats): string {
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'directory';
  if (st.isSymbolicLink()) return 'symbolic link';
  if (st.isFIFO()) return 'FIFO';
  if (st.isSocket()) return 'socket';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  return 'special file';
}

/** `ls -l`'s mode column: type letter and rwx triplets with setuid, setgid and sticky bits. */
export function modeString(st: Stats): string {
  const type = st.isDirectory() ? 'd' : st.isSymbolicLink() ? 'l' : st.isFIFO() ? 'p' : st.isSocket() ? 's' : st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : '-';
  const m = st.mode;
  const bit = (mask: number, c: string) => (m & mask ? c : '-');
  const exec = (x: number, special: number, on: string, off: string) => (m & special ? (m & x ? on : off) : m & x ? 'x' : '-');
  return (
    type +
    bit(0o400, 'r') + bit(0o200, 'w') + exec(0o100, 0o4000, 's', 'S') +
    bit(0o040, 'r') + bit(0o020, 'w') + exec(0o010, 0o2000, 's', 'S') +
    bit(0o004, 'r') + bit(0o002, 'w') + exec(0o001, 0o1000, 't', 'T')
  );
}

/** Permission bits in octal, e.g. 0644 or 4755. */
export function octalMode(st: Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, '0');
}

/** A time to the second, in UTC: 2024-05-01T12:00:00Z. */
export function isoTime(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/** A byte count for people: 1.5 MiB (binary units, one decimal below 10). */
export function bytesText(n: number): string {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  const u = n < 1024 ? 0 : Math.min(units.length - 1, Math.floor(Math.log2(n) / 10));
  const v = n / 1024 ** u;
  return `${u === 0 ? n : v >= 10 ? Math.round(v) : Math.round(v * 10) / 10} ${units[u]}`;
}

/** A duration for people: 10 min, 1.5 s, 250 ms. */
export function durationText(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 60_000 || ms % 60_000 !== 0) return `${Math.round(ms / 100) / 10} s`;
  return `${ms / 60_000} min`;
}
