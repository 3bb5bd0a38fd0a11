import Table from 'cli-table3';

/** Prints rows as a table for people, or as JSON for scripts. */
export function print(json: boolean, value: unknown, rows?: () => { head: string[]; rows: (string | number | null)[][] }): void {
  if (json || !rows) {
    process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
    return;
  }
  const r = rows();
  if (r.rows.length === 0) {
    process.stdout.write('(none)\n');
    return;
  }
  const t = new Table({ head: r.head, style: { head: [], border: [] } });
  for (const row of r.rows) t.push(row.map((c) => (c === null ? '' : String(c))));
  process.stdout.write(`${t.toString()}\n`);
}

export const since = (iso: string): string => {
  const s = Math.round((Date.now() - Date.parse(iso)) / 1000);
  if (s < 60) return `${Math.max(s, 0)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
};
