import { afterEach, describe, expect, it } from 'vitest';
import type { Db } from '../db/database.js';
import { openTestStore, STORES } from '../testing/stores.js';
import { AlertsRepository, type NewAlertRow } from './alerts.repository.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

async function store(kind: (typeof STORES)[number]): Promise<Db> {
  const s = await openTestStore(kind);
  closers.push(s.close);
  return s.db;
}

const T = '2026-11-25T10:00:00.000Z';

async function addMachine(db: Db, id: string, name: string, lastSeen = T): Promise<void> {
  await db
    .insertInto('machines')
    .values({ id, computer_dns_name: name, first_seen: T, last_seen: lastSeen, os_platform: 'Linux', os_version: '12', os_processor: 'x64', kernel: '6', agent_version: '0.1.0', last_ip_address: null, last_external_ip_address: null, ip_addresses: '[]', capabilities: '[]', aad_device_id: null, credential_hash: 'x', isolation: null, enrolled_at: T, credential_revoked_at: null, credential_revoked_by: null, credential_in_use_twice_at: null })
    .execute();
}

function alert(over: Partial<NewAlertRow> & { id: string }): NewAlertRow {
  return {
    source_key: `k-${over.id}`,
    machine_id: null,
    computer_dns_name: null,
    host_key: null,
    title: 't',
    description: null,
    severity: 'Low',
    severity_rank: 2,
    status: 'New',
    classification: null,
    determination: null,
    assigned_to: null,
    category: null,
    detection_source: 'Custom',
    threat_name: null,
    mitre_techniques: '[]',
    evidence: '[]',
    event_count: 1,
    first_event_time: T,
    last_event_time: T,
    alert_creation_time: T,
    last_update_time: T,
    resolved_time: null,
    created_by: 'test',
    ...over,
  };
}

describe.each(STORES)('alerts repository (%s)', (kind) => {
  it('inserts new alerts, skipping source keys already stored, and counts repeats', async () => {
    const db = await store(kind);
    const repo = new AlertsRepository(db);
    expect(await repo.insertNew([alert({ id: 'a1' }), alert({ id: 'a2' })])).toEqual(new Set(['k-a1', 'k-a2']));
    // Another writer stored k-a2 a moment ago: only a3 is new.
    expect(await repo.insertNew([alert({ id: 'x', source_key: 'k-a2' }), alert({ id: 'a3' })])).toEqual(new Set(['k-a3']));
    expect(await repo.countRepeat('k-a2', 3, '2026-11-25T11:00:00.000Z', T)).toBe('a2');
    expect(await repo.countRepeat('k-a2', 1, '2026-11-25T09:00:00.000Z', T)).toBe('a2');
    expect(await repo.get('a2')).toMatchObject({ event_count: 5, last_event_time: '2026-11-25T11:00:00.000Z' });
    expect(await repo.countRepeat('k-none', 1, T, T)).toBeUndefined();
  });

  it('finds devices by host name in any case, the most recently seen first', async () => {
    const db = await store(kind);
    await addMachine(db, 'm1', 'Web-01', '2026-11-25T09:00:00.000Z');
    await addMachine(db, 'm2', 'web-01', '2026-11-25T10:00:00.000Z');
    await addMachine(db, 'm3', 'db-01');
    const found = await new AlertsRepository(db).machinesByHost(['web-01', 'db-01', 'none']);
    expect([...found.entries()].sort()).toEqual([
      ['db-01', { id: 'm3', name: 'db-01' }],
      ['web-01', { id: 'm2', name: 'web-01' }],
    ]);
  });

  it("keeps a device's risk right when two writers change its alerts at once", async () => {
    const db = await store(kind);
    await addMachine(db, 'm1', 'web-01');
    const repo = new AlertsRepository(db);
    await repo.insertNew([alert({ id: 'medium', machine_id: 'm1', severity: 'Medium', severity_rank: 3 })]);
    expect(await repo.refreshRisk(['m1'])).toEqual([{ id: 'm1', risk: 'Medium' }]);

    // Writer 1 raises a High alert and holds its transaction open; writer 2 resolves the Medium one meanwhile.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let raised!: () => void;
    const hasRaised = new Promise<void>((r) => (raised = r));
    const first = db.transaction().execute(async (tx) => {
      const r = new AlertsRepository(tx);
      await r.insertNew([alert({ id: 'high', machine_id: 'm1', severity: 'High', severity_rank: 4 })]);
      await r.refreshRisk(['m1']);
      raised();
      await held;
    });
    await hasRaised;
    const second = db.transaction().execute(async (tx) => {
      const r = new AlertsRepository(tx);
      await r.update('medium', { status: 'Resolved' });
      await r.refreshRisk(['m1']);
    });
    // Give the second writer time to read (it must wait for the first instead), then commit the first.
    await new Promise((r) => setTimeout(r, 300));
    release();
    await Promise.all([first, second]);
    expect((await db.selectFrom('machines').select('risk_score').where('id', '=', 'm1').executeTakeFirstOrThrow()).risk_score).toBe('High');
  });

  it('gives a newly enrolled device the alerts raised for its host name, and only those', async () => {
    const db = await store(kind);
    await addMachine(db, 'm1', 'build-09');
    const repo = new AlertsRepository(db);
    await repo.insertNew([alert({ id: 'a', host_key: 'build-09', severity: 'High', severity_rank: 4 }), alert({ id: 'b', host_key: 'build-10' }), alert({ id: 'c', host_key: 'build-09', machine_id: 'other' })]);
    expect((await repo.claimForHost('m1', 'build-09', T)).map((r) => r.id)).toEqual(['a']);
    expect(await repo.refreshRisk(['m1'])).toEqual([{ id: 'm1', risk: 'High' }]);
    expect(await repo.claimForHost('m1', 'build-09', T)).toEqual([]);
  });
});
