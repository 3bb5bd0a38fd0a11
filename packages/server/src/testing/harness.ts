import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { ActionCatalog, Inventory } from '@cordon/protocol';
import type { Role } from '../auth/permissions.js';
import { loadServerConfig, type ServerConfigInput } from '../config.js';
import { createCordonServer, type CordonServer } from '../server.js';
import type { LiveShellPolicy } from '../services/live-response.service.js';
import { createMigratedTestDatabase, defaultTestStore, dropTestDatabase, type StoreKind } from './stores.js';

/** A movable clock for tests. */
export class TestClock {
  constructor(public t = Date.parse('2026-11-25T10:00:00.000Z')) {}
  now = (): Date => new Date(this.t);
  advance(ms: number): void {
    this.t += ms;
  }
}

export function inventory(over: Partial<Inventory> = {}): Inventory {
  return {
    hostname: 'web-01',
    osPlatform: 'Linux',
    osVersion: 'Debian GNU/Linux 12',
    osProcessor: 'x64',
    kernel: '6.1.0',
    ipAddresses: [{ address: '10.1.2.3', family: 'IPv4', interface: 'eth0', mac: '02:00:00:00:00:01' }],
    agentVersion: '0.1.0',
    capabilities: [{ name: 'inventory', version: '1' }],
    deviceTags: [],
    ...over,
  };
}

export interface Harness {
  server: CordonServer;
  clock: TestClock;
  tokens: Record<Role, string>;
  /** Enrolls a device straight through the service, as the gateway would. */
  enroll(over?: Partial<Inventory>): Promise<string>;
  call(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, opts?: { token?: string | null; body?: unknown; headers?: Record<string, string> }): Promise<{ status: number; body: any; text: string; headers: Record<string, unknown> }>;
  /**
   * Stops the server and starts a new one on the same data directory (database, keys, files) and
   * clock, as a restart does; `server` is then the new one (not listening yet), `tokens` still work.
   */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A real server (real keys in a temp dir, a real store: SQLite, or a database of its own on the run's
 * PostgreSQL when `store` or `CORDON_TEST_STORE` says so), driven in-process through `app.inject`.
 */
export async function startHarness(config: ServerConfigInput = {}, opts: { catalog?: ActionCatalog; store?: StoreKind; liveShellPolicy?: LiveShellPolicy } = {}): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cordon-test-'));
  const store = opts.store ?? defaultTestStore();
  const databaseUrl = store === 'postgres' ? await createMigratedTestDatabase('harness') : undefined;
  const clock = new TestClock();
  const start = () =>
    createCordonServer(loadServerConfig({ port: 0, agentPort: 0, host: '127.0.0.1', agentHost: '127.0.0.1', logLevel: 'silent', ...config, dataDir, ...(databaseUrl ? { databaseUrl } : {}) }, {}), {
      logger: pino({ level: 'silent' }),
      clock: clock.now,
      catalog: opts.catalog,
      // A password hash at scrypt's default cost is ~100 ms, 40% of a harness start.
      passwordCost: 2 ** 10,
      ...(opts.liveShellPolicy ? { liveShellPolicy: opts.liveShellPolicy } : {}),
    });
  const first = await start();
  const admin = first.initialAdminToken!;
  const tokens = { admin } as Record<Role, string>;
  for (const role of ['viewer', 'analyst', 'responder', 'ingest'] as const) tokens[role] = await first.services.auth.createToken(role, `${role}-user`, 'test');
  const h: Harness = {
    server: first,
    clock,
    tokens,
    async enroll(over = {}) {
      const { token } = await h.server.services.enrollment.createToken('test');
      const secret = token.split('.')[1]!;
      return (await h.server.services.enrollment.enroll(secret, inventory(over))).machineId;
    },
    async call(method, url, opts = {}) {
      const token = opts.token === undefined ? admin : opts.token;
      const res = await h.server.app.inject({
        method,
        url,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(opts.body !== undefined && typeof opts.body !== 'string' ? { 'content-type': 'application/json' } : {}), ...opts.headers },
        payload: opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body),
      });
      let body: unknown = null;
      try {
        body = res.json();
      } catch {
        body = null;
      }
      return { status: res.statusCode, body, text: res.body, headers: res.headers };
    },
    async restart() {
      await h.server.close();
      h.server = await start();
    },
    async close() {
      await h.server.close();
      rmSync(dataDir, { recursive: true, force: true });
      if (databaseUrl) await dropTestDatabase(databaseUrl);
    },
  };
  return h;
}
export { zipOf } from './zip.js';
