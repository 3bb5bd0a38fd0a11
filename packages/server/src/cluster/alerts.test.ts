import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadServerConfig } from '../config.js';
import type { CordonEvent } from '../events.js';
import { createCordonServer, type CordonServer } from '../server.js';
import { inventory, TestClock } from '../testing/harness.js';
import { createTestDatabase, dropTestDatabase } from '../testing/stores.js';

/**
 * Alerts on two server nodes sharing one PostgreSQL store: the same source event sent to both at
 * once is one alert counted twice, a device's risk is right whichever node changed its alerts,
 * and live views on either node hear of alerts taken in by the other.
 */
let dir: string;
let databaseUrl: string;
let clock: TestClock;
const nodes: CordonServer[] = [];

async function node(): Promise<CordonServer> {
  const config = loadServerConfig({ dataDir: join(dir, 'shared'), databaseUrl, host: '127.0.0.1', port: 0, agentHost: '127.0.0.1', agentPort: 0, logLevel: 'silent', rateLimitPerMinute: 0 }, {});
  const server = await createCordonServer(config, { logger: pino({ level: 'silent' }), clock: clock.now });
  await server.listen();
  nodes.push(server);
  return server;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-cluster-alerts-'));
  databaseUrl = await createTestDatabase('alerts');
  clock = new TestClock(Date.now());
});
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await dropTestDatabase(databaseUrl);
  rmSync(dir, { recursive: true, force: true });
});

async function call(server: CordonServer, token: string, method: 'GET' | 'POST' | 'PATCH', url: string, body?: unknown) {
  const r = await server.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, payload: body ? JSON.stringify(body) : undefined });
  return { status: r.statusCode, body: r.json() };
}

describe('alerts on two nodes', () => {
  it('count the same event sent to both at once on one alert, keep risk right, and tell live views on both', async () => {
    const a = await node();
    const b = await node();
    const token = a.initialAdminToken!;
    const { token: enrollment } = await a.services.enrollment.createToken('test');
    const machineId = (await a.services.enrollment.enroll(enrollment.split('.')[1]!, inventory({ hostname: 'web-01' }))).machineId;
    const heardOnB: CordonEvent[] = [];
    b.hub.subscribe((e) => heardOnB.push(e));

    // Twenty copies of one event, half to each node, all at once; and a second event to each.
    const event = { computerDnsName: 'web-01', title: 'Reverse shell', severity: 'High', sourceEventId: 'siem-1' };
    const copies = await Promise.all(Array.from({ length: 20 }, (_, i) => call(i % 2 ? b : a, token, 'POST', '/api/alerts', event)));
    expect(copies.filter((c) => c.status === 201)).toHaveLength(1);
    expect(copies.filter((c) => c.status === 200)).toHaveLength(19);
    expect(new Set(copies.map((c) => c.body.id)).size).toBe(1);
    const low = await call(b, token, 'POST', '/api/alerts', { machineId, title: 'Port scan', severity: 'Low' });
    expect((await call(a, token, 'GET', `/api/alerts/${copies[0]!.body.id}`)).body.eventCount).toBe(20);
    expect((await call(b, token, 'GET', '/api/alerts?$count=true')).body['@odata.count']).toBe(2);
    // Node B hears of the alert node A took in (and so its consoles do).
    await vi.waitFor(() => expect(heardOnB.some((e) => e.kind === 'alerts' && e.alertIds.includes(copies[0]!.body.id))).toBe(true), { timeout: 10_000 });

    // Resolving on one node and raising on the other at once: the risk ends as the open alerts say.
    await Promise.all([call(a, token, 'PATCH', `/api/alerts/${copies[0]!.body.id}`, { status: 'Resolved' }), call(b, token, 'POST', '/api/alerts', { machineId, title: 'Miner', severity: 'Medium' })]);
    expect((await call(b, token, 'GET', `/api/machines/${machineId}`)).body.riskScore).toBe('Medium');
    await call(b, token, 'PATCH', `/api/alerts/${low.body.id}`, { status: 'Resolved' });
    await vi.waitFor(() => expect(heardOnB.some((e) => e.kind === 'machine' && e.machineId === machineId && e.change === 'risk')).toBe(true), { timeout: 10_000 });
  });
});
