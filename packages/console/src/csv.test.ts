import type { MachineAction } from '@cordon/api-client';
import Papa from 'papaparse';
import { describe, expect, it } from 'vitest';
import { actionsCsv, indicatorsFromCsv } from './csv';

const action = (comment: string, over: Partial<MachineAction> = {}): MachineAction =>
  ({
    id: '00000000-0000-4000-8000-000000000001',
    type: 'Isolate',
    scope: 'Full',
    requestor: 'alice',
    requestorComment: comment,
    status: 'Succeeded',
    machineId: 'm1',
    computerDnsName: 'web-01',
    creationDateTimeUtc: '2026-11-29T10:00:00.000Z',
    lastUpdateDateTimeUtc: '2026-11-29T10:01:00.000Z',
    error: null,
    ...over,
  }) as MachineAction;

const commentsOf = (csv: string): string[] => (Papa.parse<Record<string, string>>(csv, { header: true }).data as Record<string, string>[]).map((r) => r.comment!);

describe('Action center CSV', () => {
  it.each([
    ['=HYPERLINK("http://x")', `'=HYPERLINK("http://x")`],
    ['=HYPERLINK("http://x")\nsecond line', `'=HYPERLINK("http://x")\nsecond line`],
    ['+1\r\n2', `'+1\r\n2`],
    ['-2+3', `'-2+3`],
    ['@SUM(A1)\nx', `'@SUM(A1)\nx`],
    ['\t=1', `'\t=1`],
    ['contain the incident', 'contain the incident'],
    ['line one\n=not a formula start', 'line one\n=not a formula start'],
  ])('defuses %j', (comment, expected) => {
    expect(commentsOf(actionsCsv([action(comment)]))).toEqual([expected]);
  });

  it('defuses every column a device or a user controls, not only comments', () => {
    const csv = actionsCsv([action('ok', { computerDnsName: '=cmd|x\ny', error: '@err\nmore' })]);
    const [row] = Papa.parse<Record<string, string>>(csv, { header: true }).data as Record<string, string>[];
    expect([row!.device, row!.error]).toEqual([`'=cmd|x\ny`, `'@err\nmore`]);
  });

  it('writes the header row for an empty export, so the file still says what it holds', () => {
    expect(actionsCsv([]).trim()).toBe('id,submitted,type,device,machineId,scope,requestor,comment,status,error,lastUpdate');
  });
});

describe('indicator import CSV', () => {
  it("reads MDE's columns in any case, leaves empty cells out and says the line each item starts on", () => {
    const csv = '\uFEFFindicatortype,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,GenerateAlert\r\n' + 'IpAddress,203.0.113.7,,Block,High,C2,"two\r\nlines",yes\r\n\r\n' + 'FileSha256,' + 'a'.repeat(64) + ',,Alert,,hash,,\n';
    expect(indicatorsFromCsv(csv)).toEqual({
      items: [
        { IndicatorType: 'IpAddress', IndicatorValue: '203.0.113.7', Action: 'Block', Severity: 'High', Title: 'C2', Description: 'two\nlines', GenerateAlert: true },
        { IndicatorType: 'FileSha256', IndicatorValue: 'a'.repeat(64), Action: 'Alert', Title: 'hash' },
      ],
      lines: [2, 5],
    });
  });

  it.each([
    ['', /empty/],
    ['IndicatorType,Value\n', /line 1: 'Value' is not a column/],
    ['IndicatorType,IndicatorValue,Title\n', /no Action column/],
    ['IndicatorType,IndicatorValue,Action,Title\nIpAddress,203.0.113.7,Block,C2,extra\n', /line 2: 5 fields, but the header has 4 columns/],
    ['IndicatorType,IndicatorValue,Action,Title\nIpAddress,"203.0.113.7,Block,C2\n', /line 2: /],
  ])('refuses %j', (csv, error) => {
    expect(() => indicatorsFromCsv(csv)).toThrow(error);
  });
});
