import { expect, vi } from 'vitest';
import type { PackagesService } from '../services/packages.service.js';

/**
 * Counts the chunk PUTs the service admitted, so a test waits for a chunk to take its place in
 * the gateway instead of sleeping (a slow store under load outlasts any fixed pause). A chunk
 * has its place, or its refusal, once the admission is answered and the gateway's continuation
 * has run: `until` waits a little past that.
 */
export function countAdmissions(packages: PackagesService): { count(): number; until(n: number): Promise<void> } {
  const admit = packages.admitChunk.bind(packages);
  let admitted = 0;
  packages.admitChunk = async (...args) => {
    await admit(...args);
    admitted++;
  };
  return {
    count: () => admitted,
    until: async (n) => {
      await vi.waitFor(() => expect(admitted).toBeGreaterThanOrEqual(n), { timeout: 15_000, interval: 10 });
      await new Promise((r) => setTimeout(r, 20));
    },
  };
}
