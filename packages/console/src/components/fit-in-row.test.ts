import { describe, expect, it } from 'vitest';
import { fitInRow } from './fit-in-row';

const bar = (isolated: boolean) => [
  { action: 'ManageTags', available: true, undoes: null },
  { action: 'CollectInvestigationPackage', available: true, undoes: null },
  { action: 'RunAntiVirusScan', available: true, undoes: null },
  { action: 'RestrictCodeExecution', available: false, undoes: null },
  isolated ? { action: 'Unisolate', available: true, undoes: 'Isolate' } : { action: 'Isolate', available: true, undoes: null, destructive: true },
  { action: 'LiveResponse', available: false, undoes: null },
];
const width = () => 100;

describe('fitInRow', () => {
  it('shows everything when it fits', () => {
    expect([...fitInRow(bar(false), width, 700)]).toEqual(['ManageTags', 'CollectInvestigationPackage', 'RunAntiVirusScan', 'RestrictCodeExecution', 'Isolate', 'LiveResponse']);
  });

  it('keeps usable actions before unavailable ones, in the catalog’s order after what contains the device', () => {
    // 650 - Action center - More = 450: four buttons.
    expect(fitInRow(bar(false), width, 650)).toEqual(new Set(['ManageTags', 'CollectInvestigationPackage', 'RunAntiVirusScan', 'Isolate']));
    // Isolate (it contains the device) claims its place first, then the other machine actions, then tags.
    expect(fitInRow(bar(false), width, 450)).toEqual(new Set(['Isolate', 'CollectInvestigationPackage']));
  });

  it('keeps Isolate in the row first, then machine actions before tools (tags, live response)', () => {
    const withLive = [{ action: 'ManageTags', available: true, undoes: null }, { action: 'LiveResponse', available: true, undoes: null }, { action: 'RunAntiVirusScan', available: true, undoes: null }, { action: 'Isolate', available: true, undoes: null, destructive: true }];
    // 450 - Action center - More = 250: two buttons: Isolate, then the scan before the tools.
    expect(fitInRow(withLive, width, 450)).toEqual(new Set(['Isolate', 'RunAntiVirusScan']));
  });

  it('keeps the way out of an isolated device in the row first, however narrow', () => {
    expect(fitInRow(bar(true), width, 450)).toEqual(new Set(['Unisolate', 'CollectInvestigationPackage']));
    expect(fitInRow(bar(true), width, 350)).toEqual(new Set(['Unisolate']));
  });
});
