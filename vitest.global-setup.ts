import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { postgresMissing, startTestPostgres, type TestPostgres } from './packages/server/src/testing/postgres.js';
import { createTemplateDatabase } from './packages/server/src/testing/stores.js';

/**
 * One real PostgreSQL server for the whole run (testing.md): tests that use it make a database of
 * their own from `CORDON_TEST_POSTGRES_URL` (see testing/stores.ts). Where PostgreSQL is not
 * installed the variable says why instead, and those tests fail with that message — never skip.
 */
let server: TestPostgres | null = null;

export async function setup(): Promise<void> {
  // Live response's shell runs bash without rc files in tests: an interactive bash reads the
  // host's, whose start (pyenv's init on this machine) can outlast a test under load.
  if (!process.env.CORDON_LIVE_SHELL) {
    const shell = join(mkdtempSync(join(tmpdir(), 'cordon-test-shell-')), 'bash-norc');
    writeFileSync(shell, '#!/bin/sh\nexec /bin/bash --norc --noprofile "$@"\n', { mode: 0o755 });
    process.env.CORDON_LIVE_SHELL = shell;
  }
  const missing = postgresMissing();
  if (missing) {
    process.env.CORDON_TEST_POSTGRES_MISSING = missing;
    return;
  }
  server = await startTestPostgres();
  process.env.CORDON_TEST_POSTGRES_URL = server.url();
  process.env.CORDON_TEST_POSTGRES_SOCKET_DIR = server.socketDir;
  process.env.CORDON_TEST_POSTGRES_TEMPLATE = await createTemplateDatabase();
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
