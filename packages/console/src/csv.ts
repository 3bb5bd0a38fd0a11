import type { MachineAction } from '@cordon/api-client';
import Papa from 'papaparse';

/**
 * A cell a spreadsheet would read as a formula starts with one of these. Papa's own rule
 * (`escapeFormulae: true`) ends in `.*$`, which fails on a cell with a line break, so a
 * multi-line `=HYPERLINK(…)` went out bare: this one looks at the first character only.
 */
export const FORMULA_START = /^[=+\-@\t\r]/;

/** The Action center's rows as CSV, formula-looking cells defused (prefixed with '). */
export function actionsCsv(rows: MachineAction[]): string {
  return Papa.unparse(
    rows.map((a) => ({
      id: a.id,
      submitted: a.creationDateTimeUtc,
      type: a.type,
      device: a.computerDnsName,
      machineId: a.machineId,
      scope: a.scope ?? '',
      requestor: a.requestor,
      comment: a.requestorComment,
      status: a.status,
      error: a.error ?? '',
      lastUpdate: a.lastUpdateDateTimeUtc,
    })),
    { escapeFormulae: FORMULA_START },
  );
}
