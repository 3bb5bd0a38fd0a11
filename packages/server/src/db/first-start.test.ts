import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../config.js';
import { createCordonServer, type CordonServer } from '../server.js';
import { createTestDatabase, dropTestDatabase } from '../testing/stores.js';
import { openStore, StoreUnavailableError } from './database.js';

let dir: string;
const servers: CordonServer[] = [];
let databaseUrl: string | null = null;
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
  if (databaseUrl) await dropTestDatabase(databaseUrl);
  databaseUrl = null;
  rmSync(dir, { recursive: true, force: true });
});

describe('nodes sharing one PostgreSQL store and data directory', () => {
  it('make one admin and one key set when two start at the same moment on an empty store', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cordon-first-start-'));
    databaseUrl = await createTestDatabase('first_start');
    const config = loadServerConfig({ dataDir: join(dir, 'shared'), databaseUrl, logLevel: 'silent' }, {});
    const started = await Promise.all([0, 1, 2].map(() => createCordonServer(config, { logger: pino({ level: 'silent' }) })));
    servers.push(...started);
    expect(started.filter((s) => s.initialAdminToken !== null)).toHaveLength(1);
    expect(started.filter((s) => s.initialAdminPassword !== null)).toHaveLength(1);
    expect(new Set(started.map((s) => s.keys.caPin)).size).toBe(1);
    expect(new Set(started.map((s) => s.keys.signingPublicKeyPem)).size).toBe(1);
    expect(readFileSync(join(dir, 'shared', 'keys', 'signing.pub'), 'utf8')).toBe(started[0]!.keys.signingPublicKeyPem);
    const db = started[0]!.db;
    expect((await db.selectFrom('tokens').select('name').execute()).map((t) => t.name)).toEqual(['admin']);
    expect((await db.selectFrom('users').select('username').execute()).map((u) => u.username)).toEqual(['admin']);
    // The admin's token works on every node.
    const token = started.find((s) => s.initialAdminToken)!.initialAdminToken!;
    for (const s of started) expect((await s.app.inject({ method: 'GET', url: '/api/machines', headers: { authorization: `Bearer ${token}` } })).statusCode).toBe(200);
  });
});

describe('a store that cannot be reached', () => {
  it('is one clear error naming the URL without its password', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cordon-unreachable-'));
    // A port nothing listens on (this test's own, closed at once).
    const { createServer } = await import('node:net');
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const url = `postgres://cordon:s3cret-pw@127.0.0.1:${port}/cordon`;
    const failure = await openStore({ dataDir: dir, databaseUrl: url }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(StoreUnavailableError);
    const message = (failure as Error).message;
    expect(message).toBe(`cannot reach the database at postgres://cordon:***@127.0.0.1:${port}/cordon: connect ECONNREFUSED 127.0.0.1:${port}`);
    expect(message).not.toContain('s3cret');
  });
});
