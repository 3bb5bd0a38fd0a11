import { postgresMissing, startTestPostgres, type TestPostgres } from './packages/server/src/testing/postgres.js';

/**
 * One real PostgreSQL server for the whole run (testing.md): tests that use it make a database of
 * their own from `CORDON_TEST_POSTGRES_URL` (see testing/stores.ts). Where PostgreSQL is not
 * installed the variable says why instead, and those tests fail with that message — never skip.
 */
let server: TestPostgres | null = null;

export async function setup(): Promise<void> {
  const missing = postgresMissing();
  if (missing) {
    process.env.CORDON_TEST_POSTGRES_MISSING = missing;
    return;
  }
  server = await startTestPostgres();
  process.env.CORDON_TEST_POSTGRES_URL = server.url();
  process.env.CORDON_TEST_POSTGRES_SOCKET_DIR = server.socketDir;
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
