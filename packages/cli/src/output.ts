import Table from 'cli-table3';

// Characters that drive a terminal or reorder what it shows: C0 controls (ESC, BEL, CR, line
// breaks…), DEL and C1 controls (U+009B is a CSI on its own), and bidirectional marks, overrides
// and isolates. Host names, tags, comments and progress messages come from devices and users.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
// The same, less what JSON.stringify already escapes (it escapes C0 but not DEL, C1 or bidi).
const UNSAFE_IN_JSON = /[\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const hex = (c: string, width: number) => c.charCodeAt(0).toString(16).padStart(width, '0');

/** Stored text as it may be shown on a terminal: every unsafe character visibly escaped (`\x1b`, `\u202e`). */
export function safeText(text: string): string {
  return text.replace(UNSAFE, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return code < 0x100 ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`;
  });
}

/** JSON for scripts that is also safe on a terminal: the same value once parsed. */
export function safeJson(value: unknown): string {
  // These characters only occur inside JSON strings, where a \u escape means the same character.
  return JSON.stringify(value, null, 2).replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}

/** A line of JSON (an asciicast event) made safe on a terminal the same way: the same value once parsed. */
export function safeJsonLine(line: string): string {
  return line.replace(UNSAFE_IN_JSON, (c) => `\\u${hex(c, 4)}`);
}

/** Prints rows as a table for people, or as JSON for scripts; stored text never reaches the terminal raw. */
export function print(json: boolean, value: unknown, rows?: () => { head: string[]; rows: (string | number | null)[][] }): void {
  if (json || !rows) {
    process.stdout.write(`${safeJson(value)}\n`);
    return;
  }
  const r = rows();
  process.stdout.write(r.rows.length === 0 ? '(none)\n' : `${tableText(r.head, r.rows)}\n`);
}

/** Rows as a table for people, every cell's stored text made safe. */
export function tableText(head: string[], rows: (string | number | null)[][]): string {
  const t = new Table({ head, style: { head: [], border: [] } });
  for (const row of rows) t.push(row.map((c) => (c === null ? '' : safeText(String(c)))));
  return t.toString();
}

export const since = (iso: string): string => {
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
};
