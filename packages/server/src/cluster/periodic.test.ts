import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { loadServerConfig } from '../config.js';
import type { CordonEvent } from '../events.js';
import { createCordonServer, type CordonServer } from '../server.js';
import { inventory, TestClock } from '../testing/harness.js';
import { createTestDatabase, dropTestDatabase } from '../testing/stores.js';

/**
 * What every node runs on a timer (sweeps, prunes, audit checkpoints), run by two nodes on one
 * PostgreSQL store and one data directory at the same moment: done once, never twice.
 */
let dir: string;
let databaseUrl: string;
let clock: TestClock;
const nodes: CordonServer[] = [];

/** A node on the shared store and data directory; `listen` also joins the others (the bus) and starts its timers. */
async function node(opts: { listen?: boolean } = {}): Promise<CordonServer> {
  const config = loadServerConfig({ dataDir: join(dir, 'shared'), databaseUrl, host: '127.0.0.1', port: 0, agentHost: '127.0.0.1', agentPort: 0, logLevel: 'silent', actionExpirySeconds: 60 }, {});
  const server = await createCordonServer(config, { logger: pino({ level: 'silent' }), clock: clock.now });
  nodes.push(server);
  if (opts.listen) await server.listen();
  return server;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-periodic-'));
  databaseUrl = await createTestDatabase('periodic');
  clock = new TestClock(Date.now());
});
afterEach(async () => {
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await dropTestDatabase(databaseUrl);
  rmSync(dir, { recursive: true, force: true });
});

async function enrolled(server: CordonServer, hostname: string): Promise<string> {
  const { token } = await server.services.enrollment.createToken('test');
  return (await server.services.enrollment.enroll(token.split('.')[1]!, inventory({ hostname }))).machineId;
}

const timelineOf = async (server: CordonServer, machineId: string) =>
  (await sql<{ event_type: string; title: string; action_id: string | null }>`select event_type, title, action_id from timeline where machine_id = ${machineId}`.execute(server.db)).rows;

describe('periodic work on two nodes at once', () => {
  it('times out an expired action once: one TimeOut, one timeline row', async () => {
    const [a, b] = [await node(), await node()];
    const admin = a.initialAdminToken!;
    const ids: string[] = [];
    const machines: string[] = [];
    for (let i = 0; i < 20; i++) {
      const machineId = await enrolled(a, `expiring-${i}`);
      machines.push(machineId);
      const r = await a.app.inject({ method: 'POST', url: `/api/machines/${machineId}/refreshInventory`, headers: { authorization: `Bearer ${admin}` }, payload: { Comment: 'never delivered' } });
      expect(r.statusCode).toBe(201);
      ids.push(r.json<{ id: string }>().id);
    }
    clock.advance(61_000);
    const [na, nb] = await Promise.all([a.services.actionExpiry.sweepExpired(), b.services.actionExpiry.sweepExpired()]);
    expect(na + nb).toBe(20);
    for (const [i, machineId] of machines.entries()) {
      const rows = (await timelineOf(a, machineId)).filter((r) => r.action_id === ids[i] && r.title.endsWith('timed out'));
      expect(rows).toHaveLength(1);
    }
  });

  it('records a device left online by a stopped node offline once, when two nodes start at the same moment', async () => {
    const first = await node();
    const machineIds: string[] = [];
    for (let i = 0; i < 20; i++) {
      const machineId = await enrolled(first, `left-online-${i}`);
      await first.services.timeline.add({ machineId, eventType: 'AgentOnline', title: 'Agent connected (version 0.1.0)' });
      machineIds.push(machineId);
    }
    await first.close();
    nodes.splice(nodes.indexOf(first), 1);
    const [a, b] = [await node(), await node()];
    await Promise.all([a.listen(), b.listen()]);
    for (const machineId of machineIds) expect((await timelineOf(a, machineId)).filter((r) => r.event_type === 'AgentOffline')).toHaveLength(1);
  });

  it('keeps one audit checkpoint file that verifies, each checkpoint once and in order', async () => {
    const [a, b] = [await node(), await node()];
    const admin = a.initialAdminToken!;
    const machineId = await enrolled(a, 'audited');
    for (let i = 0; i < 15; i++) {
      // Records written on either node, checkpoints signed by both at the same moment.
      const tag = (server: CordonServer, n: number) => server.app.inject({ method: 'POST', url: `/api/machines/${machineId}/tags`, headers: { authorization: `Bearer ${admin}` }, payload: { Value: `tag-${i}-${n}`, Action: 'Add' } });
      await Promise.all([tag(a, 0), tag(b, 1)]);
      await Promise.all([a.services.auditIntegrity.checkpoint(), b.services.auditIntegrity.checkpoint(), a.services.auditIntegrity.checkpoint()]);
    }
    await Promise.all([a.services.auditIntegrity.stop(), b.services.auditIntegrity.stop()]);
    const seqs = readFileSync(join(dir, 'shared', 'audit', 'checkpoints.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs.length).toBeGreaterThanOrEqual(15);
    expect(seqs).toEqual([...new Set(seqs)].sort((x, y) => x - y));
    const head = await a.services.auditIntegrity.verify();
    expect(head).toMatchObject({ verified: true, firstBroken: null, sinceLastCheckpoint: 0 });
    expect(await b.services.auditIntegrity.verify()).toMatchObject({ verified: true, firstBroken: null });
  });

  it('tells live views of a device turning inactive once on each node', async () => {
    const [a, b] = [await node({ listen: true }), await node({ listen: true })];
    const machineId = await enrolled(a, 'going-quiet');
    const seen: [CordonEvent[], CordonEvent[]] = [[], []];
    a.hub.subscribe((e) => seen[0].push(e));
    b.hub.subscribe((e) => seen[1].push(e));
    // The first check only sets the mark; the device then goes unseen past the line.
    await Promise.all([a.services.machines.announceInactive(), b.services.machines.announceInactive()]);
    clock.advance(3600_000);
    await Promise.all([a.services.machines.announceInactive(), b.services.machines.announceInactive()]);
    // A marker sent by each node after its check arrives at the other behind anything it relayed.
    a.hub.emit({ kind: 'timeline', machineId, eventType: 'marker-a' });
    b.hub.emit({ kind: 'timeline', machineId, eventType: 'marker-b' });
    await vi.waitFor(() => expect([seen[0].some((e) => e.kind === 'timeline' && e.eventType === 'marker-b'), seen[1].some((e) => e.kind === 'timeline' && e.eventType === 'marker-a')]).toEqual([true, true]), { timeout: 5000, interval: 20 });
    for (const events of seen) expect(events.filter((e) => e.kind === 'machine' && e.machineId === machineId && e.change === 'inactive')).toHaveLength(1);
  });

  it('prunes IP history and removes expired package files without tripping over each other', async () => {
    const [a, b] = [await node(), await node()];
    const machineIds: string[] = [];
    for (let i = 0; i < 10; i++) machineIds.push(await enrolled(a, `many-ips-${i}`));
    const t = clock.now().toISOString();
    for (const machineId of machineIds) {
      const rows = Array.from({ length: 600 }, (_, n) => ({ machine_id: machineId, ip: `10.${Math.floor(n / 250)}.${n % 250}.1`, first_seen: t, last_seen: t }));
      await a.db.insertInto('machine_ips').values(rows).onConflict((oc) => oc.doNothing()).execute();
    }
    const before = Number((await sql<{ n: string }>`select count(*) as n from machine_ips`.execute(a.db)).rows[0]!.n);
    const pruned = await Promise.all([a.services.machines.pruneIpHistory(), b.services.machines.pruneIpHistory(), a.services.machines.pruneIpHistory()]);
    const after = Number((await sql<{ n: string }>`select count(*) as n from machine_ips`.execute(a.db)).rows[0]!.n);
    expect(after).toBe(10 * 512);
    expect(pruned.reduce((x, y) => x + y, 0)).toBe(before - after);

    // Package files past their retention, on the shared data directory: removed once, records kept.
    const admin = a.initialAdminToken!;
    const files = join(dir, 'shared', 'files', 'packages');
    const packaged: string[] = [];
    for (const machineId of machineIds) {
      const r = await a.app.inject({ method: 'POST', url: `/api/machines/${machineId}/refreshInventory`, headers: { authorization: `Bearer ${admin}` }, payload: { Comment: 'stands in for a collection' } });
      const actionId = r.json<{ id: string }>().id;
      await a.db.insertInto('packages').values({ action_id: actionId, machine_id: machineId, size: 3, sha256: '0'.repeat(64), created_at: t, expires_at: t, deleted_at: null }).execute();
      writeFileSync(join(files, `${actionId}.zip`), 'zip');
      packaged.push(actionId);
    }
    clock.advance(1000);
    await Promise.all([a.services.packages.sweepExpired(), b.services.packages.sweepExpired()]);
    expect(packaged.filter((id) => existsSync(join(files, `${id}.zip`)))).toEqual([]);
    expect(await a.db.selectFrom('packages').select('action_id').where('deleted_at', 'is', null).execute()).toEqual([]);
  });
});
