import type { MachineAction } from '@cordon/api-client';
import Papa from 'papaparse';

/**
 * A cell a spreadsheet would read as a formula starts with one of these. Papa's own rule
 * (`escapeFormulae: true`) ends in `.*$`, which fails on a cell with a line break, so a
 * multi-line `=HYPERLINK(…)` went out bare: this one looks at the first character only.
 */
export const FORMULA_START = /^[=+\-@\t\r]/;

/** The Action center's CSV columns, in order, and what each holds. */
const COLUMNS: [string, (a: MachineAction) => string][] = [
  ['id', (a) => a.id],
  ['submitted', (a) => a.creationDateTimeUtc],
  ['type', (a) => a.type],
  ['device', (a) => a.computerDnsName],
  ['machineId', (a) => a.machineId],
  ['scope', (a) => a.scope ?? ''],
  ['requestor', (a) => a.requestor],
  ['comment', (a) => a.requestorComment],
  ['status', (a) => a.status],
  ['error', (a) => a.error ?? ''],
  ['lastUpdate', (a) => a.lastUpdateDateTimeUtc],
];

/** The Action center's rows as CSV, formula-looking cells defused (prefixed with '); the header row even when there are none. */
export function actionsCsv(rows: MachineAction[]): string {
  return Papa.unparse({ fields: COLUMNS.map(([name]) => name), data: rows.map((a) => COLUMNS.map(([, cell]) => cell(a))) }, { escapeFormulae: FORMULA_START });
}

/** MDE's indicator import columns (in any case) and the API field each fills. */
const INDICATOR_COLUMNS: Record<string, string> = {
  indicatortype: 'IndicatorType',
  indicatorvalue: 'IndicatorValue',
  expirationtime: 'ExpirationTime',
  action: 'Action',
  severity: 'Severity',
  title: 'Title',
  description: 'Description',
  recommendedactions: 'RecommendedActions',
  rbacgroups: 'RbacGroupNames',
  category: 'Category',
  mitretechniques: 'MitreTechniques',
  generatealert: 'GenerateAlert',
};
const REQUIRED_COLUMNS = ['IndicatorType', 'IndicatorValue', 'Action', 'Title'];
const COLUMN_NAMES = Object.values(INDICATOR_COLUMNS)
  .map((f) => (f === 'RbacGroupNames' ? 'RbacGroups' : f))
  .join(', ');

/**
 * The indicators of an MDE import CSV (header row required), each with the line of the file it
 * starts on, as the API's import takes them; empty cells are left out. Throws with the line at fault.
 */
export function indicatorsFromCsv(text: string): { items: Record<string, unknown>[]; lines: number[] } {
  // One kind of line break, so the line numbers said are the ones an editor shows.
  const s = text.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n');
  const records: { line: number; cells: string[] }[] = [];
  let end = 0;
  let problem: string | null = null;
  Papa.parse<string[]>(s, {
    newline: '\n',
    skipEmptyLines: 'greedy',
    step: (r, parser) => {
      let start = end;
      while (s[start] === '\n') start++;
      end = r.meta.cursor;
      const line = s.slice(0, start).split('\n').length;
      if (r.errors.length) {
        problem = `line ${line}: ${r.errors[0]!.message}`;
        parser.abort();
      } else records.push({ line, cells: r.data });
    },
  });
  if (problem) throw new Error(problem);
  const [header, ...rows] = records;
  if (!header) throw new Error(`the file is empty; it needs a header row (${COLUMN_NAMES})`);
  const fields = header.cells.map((h) => INDICATOR_COLUMNS[h.trim().toLowerCase()]);
  const unknown = header.cells.find((_, i) => !fields[i]);
  if (unknown !== undefined) throw new Error(`line ${header.line}: '${unknown.trim()}' is not a column of an indicator import; the columns are ${COLUMN_NAMES}`);
  const missing = REQUIRED_COLUMNS.filter((f) => !fields.includes(f));
  if (missing.length) throw new Error(`the header row has no ${missing.join(', ')} column${missing.length > 1 ? 's' : ''}; is the first row the header?`);
  const items = rows.map(({ line, cells }) => {
    if (cells.length > fields.length) throw new Error(`line ${line}: ${cells.length} fields, but the header has ${fields.length} columns`);
    const item: Record<string, unknown> = {};
    cells.forEach((raw, i) => {
      const value = raw.trim();
      if (value === '') return;
      const field = fields[i]!;
      item[field] = field === 'GenerateAlert' ? (/^(true|yes|1)$/i.test(value) ? true : /^(false|no|0)$/i.test(value) ? false : value) : value;
    });
    return item;
  });
  return { items, lines: rows.map((r) => r.line) };
}
