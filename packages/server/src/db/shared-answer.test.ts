import { describe, expect, it } from 'vitest';
import { sharedAnswer } from './database.js';

describe('a shared answer (the store health that every agent probing /healthz asks for)', () => {
  it('asks once for any number of callers at the same moment, and again only once its answer is old', async () => {
    let t = 0;
    let asked = 0;
    let release!: (v: boolean) => void;
    const answer = sharedAnswer(() => (asked++, new Promise<boolean>((r) => (release = r))), 1500, () => t);
    const callers = Array.from({ length: 1000 }, () => answer());
    expect(asked).toBe(1);
    // Slower than the lifetime of an answer: those asking meanwhile still wait for the question out.
    t = 5000;
    expect(answer()).toBe(callers[0]);
    release(false);
    expect(await Promise.all(callers)).toEqual(Array(1000).fill(false));
    t += 1000;
    expect(await answer()).toBe(false);
    expect(asked).toBe(1);
    t += 600;
    const next = answer();
    expect(asked).toBe(2);
    release(true);
    expect(await next).toBe(true);
  });
});
