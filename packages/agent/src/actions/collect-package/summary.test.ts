import { describe, expect, it } from 'vitest';
import { readZip } from '../../testing/zip.js';
import { summaryWorkbook } from './summary.js';
import type { DataPoint } from './types.js';

/**
 * The summary report is where spreadsheet safety belongs (the package's CSVs stay as collected):
 * a text an attacker chose (a file name, a command line, an error) is stored as a text cell and
 * can never be a formula Excel or LibreOffice would evaluate.
 */
describe('the summary report stores every text as text', () => {
  const hostile = ['=HYPERLINK("http://203.0.113.9/x","click")', '@SUM(1+1)', '+1+1', '-2+3'];

  it('a cell holding =HYPERLINK("x") is a string cell, never a formula', async () => {
    const points: DataPoint[] = hostile.map((h, i) => ({ folder: 'Processes', file: `${h}.csv`, source: h, status: 'Failed', errorCode: h, errorMessage: h, bytes: i, durationMs: 5 }));
    const xlsx = await summaryWorkbook(points, { collectedAt: '2026-11-30T01:02:03.000Z', hostname: '=HYPERLINK("x")', durationMs: 1, collectorTimeoutMs: 1, collectorMaxBytes: 1, totalMaxBytes: 1 });
    const entries = await readZip(xlsx);
    const sheets = [...entries.keys()].filter((k) => /^xl\/worksheets\/sheet\d+\.xml$/.test(k));
    expect(sheets.length).toBe(2);
    const shared = entries.get('xl/sharedStrings.xml')?.toString() ?? '';
    for (const name of sheets) {
      const xml = entries.get(name)!.toString();
      // No formula anywhere, and every cell is a shared or inline string, or a number.
      expect(xml).not.toMatch(/<f[\s>]/);
      for (const [cell] of xml.matchAll(/<c [^>]*>/g)) expect(cell, `${name}: ${cell}`).toMatch(/ t="(s|inlineStr|n)"|^<c (?![^>]* t=)/);
    }
    const unescape = (s: string) => s.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
    const strings = [...shared.matchAll(/<t[^>]*>([^<]*)<\/t>/g)].map((m) => unescape(m[1]!));
    for (const h of [...hostile, '=HYPERLINK("x")']) expect(strings).toContain(h);
  });
});
