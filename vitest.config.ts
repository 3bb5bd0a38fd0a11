import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // One real PostgreSQL for the whole run (testing.md); each test file makes its own databases.
    globalSetup: ['./vitest.global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // e2e tests start real processes and network namespaces; keep files from fighting over the 2 cores.
    fileParallelism: true,
    poolOptions: { forks: { maxForks: 2 } },
    pool: 'forks',
    // `npm test` runs the packages' projects with --isolate=false (a worker runs many files with
    // one module registry: importing the server afresh for each file was about half of their
    // time; they restore what they change, such as env, cwd and umask), then e2e with a worker per
    // file (its files share module-level beds and browsers). Vitest takes isolate for a whole run only.
    projects: [
      { extends: true, test: { name: 'sqlite', include: ['packages/*/src/**/*.test.ts'] } },
      { extends: true, test: { name: 'e2e', include: ['e2e/**/*.test.ts'] } },
      // The server's tests once more with every harness on PostgreSQL: each repository, query and
      // transaction is proven on both engines (architecture.md).
      // (Repository, store and cluster tests choose their engines themselves: not run twice.)
      {
        extends: true,
        test: {
          name: 'postgres',
          include: ['packages/server/src/**/*.test.ts'],
          exclude: ['packages/server/src/repositories/**', 'packages/server/src/db/**', 'packages/server/src/cluster/**'],
          env: { CORDON_TEST_STORE: 'postgres' },
        },
      },
    ],
  },
});
