import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['packages/*/src/**/*.test.ts', 'e2e/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e tests start real processes and network namespaces; keep files from fighting over the 2 cores.
    fileParallelism: true,
    poolOptions: { forks: { maxForks: 2 } },
    pool: 'forks',
  },
});
