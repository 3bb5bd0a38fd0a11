import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

describe('group commit', () => {
  it('writes items submitted together in one batch, answering each submitter in order', async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number, string>(async (items) => {
      batches.push(items);
      return items.map((i) => `#${i}`);
    });
    const [a, b, c] = await Promise.all([gc.submit(1), gc.submitAll([2, 3]), gc.submit(4)]);
    expect([a, b, c]).toEqual(['#1', ['#2', '#3'], '#4']);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('never splits a group, even one larger than a batch, and fills batches with whole groups', async () => {
    const batches: number[][] = [];
    let release!: () => void;
    const first = new Promise<void>((r) => (release = r));
    const gc = new GroupCommit<number, number>(
      async (items) => {
        batches.push(items);
        if (batches.length === 1) await first;
        return items;
      },
      { maxBatch: 3 },
    );
    const head = gc.submit(0);
    await new Promise((r) => setTimeout(r, 5));
    // Queued while the first batch is written: a group of 2, a group of 4 (over the maximum), 1, 1.
    const rest = [gc.submitAll([1, 2]), gc.submitAll([3, 4, 5, 6]), gc.submit(7), gc.submit(8)];
    release();
    expect(await Promise.all([head, ...rest])).toEqual([0, [1, 2], [3, 4, 5, 6], 7, 8]);
    expect(batches).toEqual([[0], [1, 2], [3, 4, 5, 6], [7, 8]]);
  });

  it('fails every submitter of a batch that fails, and goes on with the next', async () => {
    const gc = new GroupCommit<number, number>(async (items) => {
      if (items.includes(13)) throw new Error('unlucky');
      return items;
    });
    const results = await Promise.allSettled([gc.submitAll([12, 13]), gc.submit(14)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(await gc.submit(15)).toBe(15);
  });
});
