import { describe, expect, it } from 'vitest';
import { backoffMs } from './connection.js';

describe('backoffMs', () => {
  it('grows exponentially up to the cap, with jitter', () => {
    expect(backoffMs(0, 60, () => 0)).toBe(500);
    expect(backoffMs(0, 60, () => 1)).toBe(1500);
    expect(backoffMs(3, 60, () => 1)).toBe(8500);
    expect(backoffMs(30, 60, () => 1)).toBe(60_500);
    const spread = new Set(Array.from({ length: 50 }, () => backoffMs(5, 60)));
    expect(spread.size).toBeGreaterThan(40);
  });
});
