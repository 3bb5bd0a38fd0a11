import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildProgram } from '../main.js';
import { indicatorsFromCsv, parseCsv, parseExpiry } from './indicators.js';

const HEADER = 'IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert';

describe('reading an MDE import CSV', () => {
  it('reads quoted fields (commas, doubled quotes, line breaks), CRLF and a BOM, numbering lines', () => {
    expect(parseCsv('\uFEFFa,b\r\n"x, y","say ""hi""\nthere"\r\n\r\nlast,\n')).toEqual([
      { line: 1, cells: ['a', 'b'] },
      { line: 2, cells: ['x, y', 'say "hi"\nthere'] },
      { line: 5, cells: ['last', ''] },
    ]);
  });

  it("maps MDE's columns onto the API's fields, leaving empty cells out", () => {
    const csv = `${HEADER}\nIpAddress,10.1.2.3,,Block,High,bad host,,,"ops, web",C2,"T1071,T1090",TRUE\nFileSha256,${'a'.repeat(64)},2026-12-31T00:00:00Z,Alert,,hash,,,,,,no\n`;
    expect(indicatorsFromCsv(csv, 'x.csv')).toEqual({
      items: [
        { IndicatorType: 'IpAddress', IndicatorValue: '10.1.2.3', Action: 'Block', Severity: 'High', Title: 'bad host', RbacGroupNames: 'ops, web', Category: 'C2', MitreTechniques: 'T1071,T1090', GenerateAlert: true },
        { IndicatorType: 'FileSha256', IndicatorValue: 'a'.repeat(64), ExpirationTime: '2026-12-31T00:00:00Z', Action: 'Alert', Title: 'hash', GenerateAlert: false },
      ],
      lines: [2, 3],
    });
  });

  it.each([
    ['no header row', `IpAddress,10.1.2.3,,Block\n`, /x\.csv: the first row names no column of an indicator import; it must be the header row/],
    ['a header without a required column', `IndicatorType,IndicatorValue,Action\n`, /the header row has no Title column/],
    ['an unknown column', `${HEADER},Colour\n`, /x\.csv line 1: 'Colour' is not a column/],
    ['a row longer than the header', `IndicatorType,IndicatorValue,Action,Title\nIpAddress,10.1.2.3,Block,t,extra\n`, /x\.csv line 2: 5 fields, but the header has 4 columns/],
    ['an unclosed quote', `${HEADER}\nIpAddress,"10.1.2.3\n`, /line 2: a quoted field is not closed/],
  ])('refuses %s', (_what, csv, message) => {
    expect(() => indicatorsFromCsv(csv, 'x.csv')).toThrow(message);
  });

  it('takes --expires as a date or a time from now', () => {
    const now = new Date('2026-11-25T10:00:00Z');
    expect(parseExpiry('30d', now)).toBe('2026-12-25T10:00:00.000Z');
    expect(parseExpiry('90m', now)).toBe('2026-11-25T11:30:00.000Z');
    expect(parseExpiry('2026-12-31T01:00:00+01:00', now)).toBe('2026-12-31T00:00:00.000Z');
    expect(() => parseExpiry('next week', now)).toThrow(/--expires takes/);
  });
});

describe('cordon indicators against a real server', () => {
  let h: Harness;
  let conn: string[];
  let dir: string;
  beforeAll(async () => {
    h = await startHarness();
    const { apiUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.responder];
    dir = mkdtempSync(join(tmpdir(), 'cordon-cli-indicators-'));
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs the CLI in-process; answers what it printed on stdout and stderr. */
  async function cordon(...args: string[]): Promise<{ out: string; err: string }> {
    let out = '';
    let err = '';
    const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
    try {
      await buildProgram().parseAsync(['node', 'cordon', ...args, ...conn]);
      return { out, err };
    } finally {
      stdout.mockRestore();
      stderr.mockRestore();
    }
  }
  const listJson = async (...args: string[]) => JSON.parse((await cordon('indicators', '--json', ...args)).out) as { id: string; indicatorValue: string; title: string; expirationTime: string | null }[];

  it('adds, lists, filters and deletes indicators, saying what is alert-only on Linux', async () => {
    const added = await cordon('indicators', 'add', '--type', 'IpAddress', '--value', '203.0.113.7', '--action', 'Block', '--title', 'C2 server', '--severity', 'High', '--expires', '30d');
    expect(added.out).toMatch(/│ IpAddress │ 203\.0\.113\.7 │ Block\s*│ High\s*│ C2 server │ \d{4}-.*│ Block\s*│/);
    expect(added.err).toBe('');
    const domain = await cordon('indicators', 'add', '--type', 'DomainName', '--value', 'evil.example', '--action', 'Block', '--title', 'phishing');
    expect(domain.err).toMatch(/^note: Alert only on Linux: agents cannot block domain names/);
    expect((await listJson()).map((i) => i.indicatorValue)).toEqual(['evil.example', '203.0.113.7']);
    expect((await listJson('--filter', "indicatorType eq 'IpAddress'")).map((i) => i.indicatorValue)).toEqual(['203.0.113.7']);
    expect((await cordon('indicators', 'list')).out).toContain('phishing');
    await expect(cordon('indicators', 'add', '--type', 'IpAddress', '--value', '127.0.0.1', '--action', 'Block', '--title', 'x')).rejects.toThrow(/loopback address/);

    const ids = (await listJson()).map((i) => i.id);
    await expect(cordon('indicators', 'delete', ids[0]!, '999')).rejects.toThrow(/Indicator 999 was not found/);
    expect((await cordon('indicators', 'delete', ...ids)).out).toBe('deleted 2 indicators\n');
    expect((await cordon('indicators')).out).toBe('(none)\n');
  });

  it('imports an MDE CSV, refuses a file with a bad row by its line (importing nothing), and imports a listing again', async () => {
    const good = join(dir, 'good.csv');
    writeFileSync(good, `${HEADER}\nIpAddress,198.51.100.1,,Block,High,one,,,,,,\nUrl,https://evil.example/x,,Alert,Low,"two, with a comma",,,,,,TRUE\n`);
    const imported = await cordon('indicators', 'import', good);
    expect(imported.err).toBe('imported 2 indicators from good.csv\n');
    expect((await listJson()).map((i) => i.title).sort()).toEqual(['one', 'two, with a comma']);

    const bad = join(dir, 'bad.csv');
    writeFileSync(bad, `${HEADER}\nIpAddress,198.51.100.2,,Block,High,fine,,,,,,\n\nIpAddress,198.51.100.300,,Block,High,typo,,,,,,\n`);
    await expect(cordon('indicators', 'import', bad)).rejects.toThrow(/^bad\.csv line 4: IndicatorValue: '198\.51\.100\.300' is not an IPv4 or IPv6 address.*; nothing was imported$/);
    expect((await listJson()).map((i) => i.indicatorValue)).not.toContain('198.51.100.2');

    // What `cordon indicators --json` printed is a file `import` takes (on another server, or to update these).
    const listed = join(dir, 'listed.json');
    const before = await listJson();
    writeFileSync(listed, JSON.stringify(before.map((i) => ({ ...i, title: `${i.title} (again)` }))));
    expect(JSON.parse((await cordon('indicators', 'import', listed, '--json')).out).map((r: { id: string }) => r.id).sort()).toEqual(before.map((i) => i.id).sort());
    expect((await listJson()).every((i) => i.title.endsWith('(again)'))).toBe(true);
  });
});
