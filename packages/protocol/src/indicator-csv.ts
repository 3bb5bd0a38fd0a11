/*
 * MDE's indicator import CSV, read the same way by the CLI and the console: the column names (any
 * case) and the API field each fills, and the rows turned into the items `POST /api/indicators/import`
 * takes. Parsing the CSV text itself is the caller's (each has its own parser); no Node built-ins
 * here, so the console can bundle it.
 */

/** MDE's import columns, lower-cased, and the API field each fills. */
const COLUMNS: Record<string, string> = {
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
const REQUIRED = ['IndicatorType', 'IndicatorValue', 'Action', 'Title'];

/** The columns as MDE's import file names them, for messages. */
export const INDICATOR_CSV_COLUMNS = Object.values(COLUMNS)
  .map((f) => (f === 'RbacGroupNames' ? 'RbacGroups' : f))
  .join(', ');

/** What is wrong with an import file, and on which line (null: the file as a whole). */
export class IndicatorCsvError extends Error {
  constructor(
    message: string,
    readonly line: number | null,
  ) {
    super(message);
    this.name = 'IndicatorCsvError';
  }
}

/** Whether a header cell names an import column. */
export function isIndicatorCsvColumn(cell: string): boolean {
  return COLUMNS[cell.trim().toLowerCase()] !== undefined;
}

/**
 * The items of an import file from its rows (the header first), each with the line it starts on;
 * empty cells are left out, GenerateAlert's yes/no words become booleans. Throws IndicatorCsvError.
 */
export function indicatorsFromCsvRows(rows: { line: number; cells: string[] }[]): { items: Record<string, unknown>[]; lines: number[] } {
  const [header, ...records] = rows;
  if (!header) throw new IndicatorCsvError(`the file is empty; it needs a header row (${INDICATOR_CSV_COLUMNS})`, null);
  const fields = header.cells.map((h) => COLUMNS[h.trim().toLowerCase()]);
  const unknown = header.cells.find((_, i) => !fields[i]);
  if (unknown !== undefined) throw new IndicatorCsvError(`'${unknown.trim()}' is not a column of an indicator import; the columns are ${INDICATOR_CSV_COLUMNS}`, header.line);
  const missing = REQUIRED.filter((f) => !fields.includes(f));
  if (missing.length) throw new IndicatorCsvError(`the header row has no ${missing.join(', ')} column${missing.length > 1 ? 's' : ''}; is the first row the header?`, null);
  const items = records.map(({ line, cells }) => {
    if (cells.length > fields.length) throw new IndicatorCsvError(`${cells.length} fields, but the header has ${fields.length} columns`, line);
    const item: Record<string, unknown> = {};
    cells.forEach((raw, i) => {
      const value = raw.trim();
      if (value === '') return;
      const field = fields[i]!;
      item[field] = field === 'GenerateAlert' ? (/^(true|yes|1)$/i.test(value) ? true : /^(false|no|0)$/i.test(value) ? false : value) : value;
    });
    return item;
  });
  return { items, lines: records.map((r) => r.line) };
}
