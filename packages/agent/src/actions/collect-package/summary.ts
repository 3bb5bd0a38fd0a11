import ExcelJS from 'exceljs';
import type { DataPoint } from './types.js';

/** What the report's second sheet says about the package as a whole. */
export interface PackageFacts {
  collectedAt: string;
  hostname: string;
  durationMs: number;
  collectorTimeoutMs: number;
  collectorMaxBytes: number;
  totalMaxBytes: number;
}

export const SUMMARY_FILE = 'CollectionSummaryReport.xlsx';
export const SUMMARY_COLUMNS: { header: string; key: keyof DataPoint; width: number }[] = [
  { header: 'Folder', key: 'folder', width: 22 },
  { header: 'File', key: 'file', width: 40 },
  { header: 'Source / command', key: 'source', width: 60 },
  { header: 'Status', key: 'status', width: 12 },
  { header: 'Error code', key: 'errorCode', width: 18 },
  { header: 'Error message', key: 'errorMessage', width: 60 },
  { header: 'Bytes', key: 'bytes', width: 12 },
  { header: 'Duration (ms)', key: 'durationMs', width: 14 },
];

/** Excel refuses cells over 32,767 characters; sources and messages are cut well below that. */
const cut = (s: string, n = 2000) => (s.length > n ? `${s.slice(0, n)}…` : s);

/** The summary spreadsheet: one row per data point, and a sheet of package facts and counts. */
export async function summaryWorkbook(points: DataPoint[], facts: PackageFacts): Promise<Buffer> {
  const wb = new ExcelJS.Workbook();
  wb.creator = 'Cordon agent';
  wb.created = new Date(facts.collectedAt);
  const ws = wb.addWorksheet('Data points', { views: [{ state: 'frozen', ySplit: 1 }] });
  ws.columns = SUMMARY_COLUMNS;
  // Cell values are plain strings and numbers, never formulas: a command line such as "=cmd|..." is a text
  // cell. The package's CSVs stay as collected, so this report is where spreadsheet safety belongs.
  for (const p of points) ws.addRow({ ...p, source: cut(p.source), errorMessage: cut(p.errorMessage) });
  ws.getRow(1).font = { bold: true };
  ws.autoFilter = { from: { row: 1, column: 1 }, to: { row: 1, column: SUMMARY_COLUMNS.length } };

  const counts = new Map<string, number>();
  for (const p of points) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
  const info = wb.addWorksheet('Package');
  info.columns = [
    { header: 'Item', key: 'k', width: 30 },
    { header: 'Value', key: 'v', width: 50 },
  ];
  info.getRow(1).font = { bold: true };
  const rows: [string, string | number][] = [
    ['Collected at', facts.collectedAt],
    ['Host', facts.hostname],
    ['Duration (ms)', facts.durationMs],
    ['Data points', points.length],
    ...['Succeeded', 'Failed', 'TimedOut', 'Truncated', 'NotPresent'].map((s): [string, number] => [s, counts.get(s) ?? 0]),
    ['Bytes collected (uncompressed)', points.reduce((a, p) => a + p.bytes, 0)],
    ['Time-out per collector (ms)', facts.collectorTimeoutMs],
    ['Size cap per collector (bytes)', facts.collectorMaxBytes],
    ['Size cap in total (bytes)', facts.totalMaxBytes],
  ];
  for (const [k, v] of rows) info.addRow({ k, v });
  return Buffer.from(await wb.xlsx.writeBuffer());
}
