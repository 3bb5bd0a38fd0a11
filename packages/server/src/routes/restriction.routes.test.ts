import { RESTRICTION_NOT_COVERED, type Inventory, type RestrictionReport } from '@cordon/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CordonEvent } from '../events.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

// Restrict app execution through the API: submission, the state a machine shows, the guard's gaps.

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const capable = (over: Partial<Inventory> = {}): Partial<Inventory> => ({ agentVersion: '0.2.0', capabilities: [{ name: 'inventory', version: '1' }, { name: 'executionControl', version: '1' }], ...over });
const restrict = (id: string) => h.call('POST', `/api/machines/${id}/restrictCodeExecution`, { body: { Comment: 'contain' } });
const unrestrict = (id: string) => h.call('POST', `/api/machines/${id}/unrestrictCodeExecution`, { body: { Comment: 'all clear' } });
const machine = async (id: string) => (await h.call('GET', `/api/machines/${id}`)).body as { restrictionState: string; restriction: RestrictionReport | null; usableActions: string[] };
const restricted: RestrictionReport = { state: 'Restricted', since: '2026-11-25T09:59:00.000Z', guard: 'running', error: null, trusted: { packageFiles: 41000, allowedHashes: 2 } };
const unrestricted: RestrictionReport = { state: 'Unrestricted', since: null, guard: null, error: null, trusted: null };

describe('restrict app execution: submission', () => {
  it('is refused NotSupported, with the reason, when the agent lacks the capability or the device lacks what it needs', async () => {
    const old = await h.enroll({ agentVersion: '0.2.0', capabilities: [{ name: 'inventory', version: '1' }] });
    const r1 = await restrict(old);
    expect([r1.status, r1.body.error.code, r1.body.error.message]).toEqual([400, 'NotSupported', expect.stringContaining("Restrict app execution: this device's agent cannot restrict app execution yet")]);
    const noFanotify = await h.enroll(capable({ hostname: 'web-02', capabilities: [{ name: 'inventory', version: '1' }, { name: 'executionControl', version: '1', unavailable: 'the kernel has no fanotify permission events (CONFIG_FANOTIFY_ACCESS_PERMISSIONS)' }] }));
    for (const r of [await restrict(noFanotify), await unrestrict(noFanotify)]) {
      expect([r.status, r.body.error.code]).toEqual([400, 'NotSupported']);
      expect(r.body.error.message).toContain('not available on web-02: the kernel has no fanotify permission events');
    }
    expect((await h.call('GET', '/api/machineactions')).body.value).toEqual([]);
    expect((await machine(noFanotify)).restrictionState).toBe('Unrestricted');
  });
});

describe('restrict app execution: state', () => {
  it('is Pending while a Restrict or Unrestrict is in flight, then what the agent reports, live', async () => {
    const id = await h.enroll(capable());
    const events: CordonEvent[] = [];
    h.server.hub.subscribe((e) => events.push(e));
    const reports = h.server.services.agentReports;
    expect(await machine(id)).toMatchObject({ restrictionState: 'Unrestricted', restriction: null });
    expect((await machine(id)).usableActions).toEqual(expect.arrayContaining(['RestrictCodeExecution', 'UnrestrictCodeExecution']));

    const a = await restrict(id);
    expect([a.status, a.body.type]).toEqual([201, 'RestrictCodeExecution']);
    expect((await machine(id)).restrictionState).toBe('Pending');
    expect(events).toContainEqual({ kind: 'machine', machineId: id, change: 'restriction' });
    // One at a time: a second one is refused while the first is in flight.
    expect((await unrestrict(id)).body.error.code).toBe('ActiveRequestAlreadyExists');
    await reports.agentAck(id, a.body.id);
    expect((await machine(id)).restrictionState).toBe('Pending');
    await reports.agentResult(id, a.body.id, 'Succeeded', null, { restriction: restricted, notCovered: RESTRICTION_NOT_COVERED, trusted: restricted.trusted });
    expect(await machine(id)).toMatchObject({ restrictionState: 'Restricted', restriction: restricted });
    const filtered = await h.call('GET', `/api/machines?$filter=${encodeURIComponent("restrictionState eq 'Restricted'")}`);
    expect(filtered.body.value.map((m: { id: string }) => m.id)).toEqual([id]);

    // A failed removal leaves it restricted; a result without a report implies one, without replacing the agent's of the same state.
    const u = await unrestrict(id);
    await reports.agentResult(id, u.body.id, 'Failed', 'helper did not answer', null);
    expect((await machine(id)).restrictionState).toBe('Restricted');
    const again = await restrict(id);
    await reports.agentResult(id, again.body.id, 'Succeeded', null, null);
    expect((await machine(id)).restriction).toEqual(restricted);
    const u2 = await unrestrict(id);
    await reports.agentResult(id, u2.body.id, 'Succeeded', null, null);
    expect(await machine(id)).toMatchObject({ restrictionState: 'Unrestricted', restriction: unrestricted });
  });

  it('follows inventory reports, and puts a dead guard or an error on the timeline once', async () => {
    const id = await h.enroll(capable({ restriction: restricted }));
    expect(await machine(id)).toMatchObject({ restrictionState: 'Restricted', restriction: restricted });
    const machines = h.server.services.machines;
    const gaps = async () => (await h.call('GET', `/api/machines/${id}/timeline?eventType=RestrictionGuardFailed`)).body.value as { title: string; actor: string }[];
    // An agent that says nothing about restriction (older versions) changes nothing.
    await machines.applyInventory(id, inventory(capable()));
    expect((await machine(id)).restrictionState).toBe('Restricted');

    const died = { ...restricted, guard: 'restarting' as const, error: 'the exec guard exited (signal SIGKILL)' };
    await machines.applyInventory(id, inventory(capable({ restriction: died })));
    await machines.applyInventory(id, inventory(capable({ restriction: died })));
    expect(await machine(id)).toMatchObject({ restrictionState: 'Restricted', restriction: { guard: 'restarting' } });
    expect(await gaps()).toEqual([expect.objectContaining({ title: 'App restriction guard stopped; programs could start unchecked until it restarts: the exec guard exited (signal SIGKILL)', actor: `agent:${id}` })]);
    // Back up: no new gap; a new error is one.
    await machines.applyInventory(id, inventory(capable({ restriction: { ...died, guard: 'running' } })));
    expect(await gaps()).toHaveLength(1);
    await machines.applyInventory(id, inventory(capable({ restriction: { ...restricted, error: 'the package database could not be read: /var/lib/dpkg/info: EACCES' } })));
    expect((await gaps()).map((g) => g.title)).toContain('App restriction problem: the package database could not be read: /var/lib/dpkg/info: EACCES');

    await machines.applyInventory(id, inventory(capable({ restriction: unrestricted })));
    expect((await machine(id)).restrictionState).toBe('Unrestricted');
  });

  it('pushes a changed report to live views even when the state stays (the device page shows the guard)', async () => {
    const id = await h.enroll(capable({ restriction: restricted }));
    const changes: CordonEvent[] = [];
    h.server.hub.subscribe((e) => void (e.kind === 'machine' && e.change === 'restriction' && changes.push(e)));
    const machines = h.server.services.machines;
    await machines.applyInventory(id, inventory(capable({ restriction: restricted })));
    expect(changes).toEqual([]);
    await machines.applyInventory(id, inventory(capable({ restriction: { ...restricted, guard: 'restarting' } })));
    expect(changes).toEqual([{ kind: 'machine', machineId: id, change: 'restriction' }]);
    expect((await machine(id)).restrictionState).toBe('Restricted');
  });

  it('raises a blocked start as an ExecutionControl alert on the device timeline', async () => {
    const id = await h.enroll(capable({ restriction: restricted }));
    await h.server.services.alerts.accept(id, {
      eventId: '00000000-0000-4000-8000-000000000181',
      kind: 'blockedExecution',
      occurredAt: '2026-11-25T09:59:30.000Z',
      data: { title: 'Blocked an untrusted program: /tmp/x', severity: 'Low', evidence: [{ entityType: 'File', filePath: '/tmp', fileName: 'x', sha256: 'a'.repeat(64) }] },
    } as never);
    const alerts = (await h.call('GET', `/api/alerts?$filter=${encodeURIComponent(`machineId eq '${id}'`)}`)).body.value;
    expect(alerts).toEqual([expect.objectContaining({ title: 'Blocked an untrusted program: /tmp/x', severity: 'Low', detectionSource: 'ExecutionControl' })]);
    const tl = (await h.call('GET', `/api/machines/${id}/timeline?eventType=AlertRaised`)).body.value;
    expect(tl).toEqual([expect.objectContaining({ data: expect.objectContaining({ alertId: alerts[0].id }) })]);
  });
});
