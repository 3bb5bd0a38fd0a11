import type { MachineAction } from '@cordon/api-client';
import Papa from 'papaparse';
import { indicatorsFromCsvRows, IndicatorCsvError } from '@cordon/protocol/indicator-csv';

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
  try {
    return indicatorsFromCsvRows(records);
  } catch (e) {
    if (e instanceof IndicatorCsvError && e.line !== null) throw new Error(`line ${e.line}: ${e.message}`);
    throw e;
  }
}
