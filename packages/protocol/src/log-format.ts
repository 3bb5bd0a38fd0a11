/**
 * How the server's and the agent's logs reach stderr. pino writes one JSON object per line; on a
 * terminal a person reads them, so `pretty` turns each into `HH:MM:SS LEVEL component message
 * key=value …`, in process (no worker thread, no extra package). `auto` is pretty on a terminal
 * and JSON otherwise (files, journald, log shippers).
 */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** The format `auto` stands for on this output: pretty on a terminal, JSON elsewhere. */
export function resolveLogFormat(format: LogFormat, isTTY: boolean | undefined): 'pretty' | 'json' {
  return format === 'auto' ? (isTTY ? 'pretty' : 'json') : format;
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line carries, shown in the line's own places (or not at all: pid, hostname). */
const OWN = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'svc', 'part', 'machineId']);

const two = (n: number) => String(n).padStart(2, '0');

function value(v: unknown): string {
  if (typeof v === 'string') return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v !== null && typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

/**
 * One pino JSON line as a person reads it. The component is the logger's `part` (gateway, api,
 * isolation …) or else its service; an error's stack follows on indented lines, as errors logged
 * with their stack are the unexpected ones. A line that is not JSON is passed on as it is.
 */
export function formatLogLine(line: string): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`;
  }
  if (o === null || typeof o !== 'object') return `${line.trimEnd()}\n`;
  const t = new Date(typeof o.time === 'number' || typeof o.time === 'string' ? o.time : Date.now());
  const time = `${two(t.getHours())}:${two(t.getMinutes())}:${two(t.getSeconds())}`;
  const level = (LEVELS[Number(o.level)] ?? String(o.level ?? '')).padEnd(5);
  const component = String(o.part ?? String(o.svc ?? '').replace(/^cordon-/, '') ?? '');
  let stack = '';
  const fields: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    if (OWN.has(k) || v === undefined) continue;
    if (k === 'err' && v && typeof v === 'object') {
      const e = v as { message?: unknown; stack?: unknown };
      fields.push(`err=${value(String(e.message ?? ''))}`);
      if (typeof e.stack === 'string') stack = `${e.stack.split('\n').slice(1).map((l) => `    ${l.trim()}`).join('\n')}\n`;
      continue;
    }
    fields.push(`${k}=${value(v)}`);
  }
  return `${[time, level, component, String(o.msg ?? ''), ...fields].filter(Boolean).join(' ')}\n${stack}`;
}

/**
 * A pino destination: `out` itself for JSON, or one that writes each line formatted for people.
 * `out` is any writable taking strings (pino's `destination(2)`, a stream in tests).
 */
export function logDestination<T extends { write(s: string): unknown }>(format: 'pretty' | 'json', out: T): T | { write(s: string): void } {
  if (format === 'json') return out;
  return {
    write(s: string) {
      // pino writes whole lines, one per call; several at once are split all the same.
      for (const line of s.split('\n')) if (line) out.write(formatLogLine(line));
    },
  };
}
