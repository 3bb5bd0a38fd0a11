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
