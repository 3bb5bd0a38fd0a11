import { describe, expect, it } from 'vitest';
import type { AllowEntry, IsolationReport } from '@cordon/protocol';
import { ACTION_CATALOG } from '@cordon/protocol';
import type { ActionRow } from '../repositories/actions.repository.js';
import type { MachineRow, MachinesRepository } from '../repositories/machines.repository.js';
import type { AuditService } from '../services/audit.service.js';
import type { Eligibility } from '../services/machines.service.js';
import type { TimelineService } from '../services/timeline.service.js';
import type { Transactor } from '../repositories/transactor.js';
import type { EventHub } from '../events.js';
import { IsolationHandler } from './isolation.handler.js';

// The isolation handler alone, without the engine or a store: what it resolves, stores and derives.

interface FakeMachine {
  isolation: string | null;
  isolation_state: string;
  busy: boolean;
}

function bed(machines: Record<string, FakeMachine>, policies: Record<string, AllowEntry[]> = {}) {
  const events: unknown[] = [];
  const timeline: unknown[] = [];
  const audit: unknown[] = [];
  const repo = {
    async isolationInputs(ids: string[]) {
      return ids.filter((id) => machines[id]).map((id) => ({ id, ...machines[id]! }));
    },
    async update(id: string, values: { isolation?: string }) {
      if (values.isolation !== undefined) machines[id]!.isolation = values.isolation;
    },
    async setIsolationState(ids: string[], state: string) {
      for (const id of ids) machines[id]!.isolation_state = state;
    },
  } as unknown as MachinesRepository;
  // The unit of work stores what the services' row builders made (here: the entries themselves).
  const tx = (async (work: (u: unknown) => Promise<unknown>) =>
    work({ timeline: { insert: async (e: unknown) => void timeline.push(e) }, audit: { append: async (rows: unknown[]) => void audit.push(...rows) } })) as unknown as Transactor;
  const handler = new IsolationHandler(
    repo,
    tx,
    { row: (e: unknown) => e, published: () => undefined } as unknown as TimelineService,
    { row: (e: unknown) => e } as unknown as AuditService,
    { emit: (e: unknown) => void events.push(e) } as unknown as EventHub,
    { allowListsOf: async (ids: string[]) => new Map(ids.filter((id) => policies[id]).map((id) => [id, policies[id]!])) },
    () => new Date('2026-11-29T10:00:00.000Z'),
  );
  return { handler, machines, events, timeline, audit };
}

const eligible = (id: string): Eligibility => ({ id, computer_dns_name: `${id}.example`, capabilities: '[]', agent_version: '0.2.0' });
const isolate = ACTION_CATALOG.get('Isolate')!;
const report = (r: Partial<IsolationReport>): string => JSON.stringify({ state: 'Isolated', type: 'Full', since: '2026-11-29T09:00:00.000Z', releasedBy: null, ...r });
const row = (over: Partial<ActionRow>): ActionRow => ({ id: 'a1', machine_id: 'm1', type: 'Isolate', scope: 'Full', ...over }) as ActionRow;

describe('isolation handler: parameters resolved at submission', () => {
  it('passes a Full isolation through as submitted', async () => {
    const { handler } = bed({});
    const params = { isolationType: 'Full' };
    const r = await handler.resolveParameters(isolate, params, [eligible('m1'), eligible('m2')]);
    expect([r.params.get('m1'), r.params.get('m2'), r.refused.size]).toEqual([params, params, 0]);
  });

  it("signs each machine's own allow list into a Selective isolation, and refuses machines no policy applies to", async () => {
    const ssh: AllowEntry[] = [{ destination: '10.0.0.1:22' }];
    const web: AllowEntry[] = [{ destination: '10.0.0.2:443' }];
    const { handler } = bed({}, { m1: ssh, m2: web, m3: ssh });
    const r = await handler.resolveParameters(isolate, { isolationType: 'Selective' }, ['m1', 'm2', 'm3', 'm4'].map(eligible));
    expect(r.params.get('m1')).toEqual({ isolationType: 'Selective', allow: ssh });
    expect(r.params.get('m2')).toEqual({ isolationType: 'Selective', allow: web });
    // Equal lists share one parameters object (one JSON text per distinct list in a bulk).
    expect(r.params.get('m3')).toBe(r.params.get('m1'));
    expect(r.params.has('m4')).toBe(false);
    expect([r.refused.get('m4')?.code, r.refused.get('m4')?.message]).toEqual(['InvalidInput', expect.stringContaining('No selective-isolation policy applies to m4.example')]);
  });
});

describe('isolation handler: state applied', () => {
  it('stores the report a result carries, and derives Isolated from it', async () => {
    const { handler, machines, events } = bed({ m1: { isolation: null, isolation_state: 'Pending', busy: false } });
    const sent = { state: 'Isolated', type: 'Selective', since: '2026-11-29T09:59:00.000Z', releasedBy: null };
    await handler.succeeded(row({}), { isolation: sent });
    await handler.actionsChanged(['m1']);
    expect([JSON.parse(machines.m1!.isolation!), machines.m1!.isolation_state]).toEqual([sent, 'Isolated']);
    expect(events).toEqual([{ kind: 'machine', machineId: 'm1', change: 'isolation' }]);
  });

  it('implies the report from the action when an agent sent none, without replacing a more precise one of the same state', async () => {
    const { handler, machines } = bed({ m1: { isolation: null, isolation_state: 'Pending', busy: false }, m2: { isolation: report({ since: '2026-11-29T08:00:00.000Z' }), isolation_state: 'Pending', busy: false } });
    await handler.succeeded(row({ scope: 'Selective' }), null);
    expect(JSON.parse(machines.m1!.isolation!)).toEqual({ state: 'Isolated', type: 'Selective', since: '2026-11-29T10:00:00.000Z', releasedBy: null });
    await handler.succeeded(row({ machine_id: 'm2' }), null);
    expect(JSON.parse(machines.m2!.isolation!).since).toBe('2026-11-29T08:00:00.000Z');
    await handler.succeeded(row({ machine_id: 'm2', type: 'Unisolate', scope: null }), null);
    expect(JSON.parse(machines.m2!.isolation!)).toEqual({ state: 'NotIsolated', type: null, since: null, releasedBy: 'action' });
  });

  it('shows Pending while an isolation or release is in flight, and writes only what changed', async () => {
    const { handler, machines, events } = bed({ m1: { isolation: report({}), isolation_state: 'Isolated', busy: true }, m2: { isolation: null, isolation_state: 'NotIsolated', busy: false } });
    await handler.actionsChanged(['m1', 'm2']);
    expect([machines.m1!.isolation_state, machines.m2!.isolation_state]).toEqual(['Pending', 'NotIsolated']);
    expect(events).toEqual([{ kind: 'machine', machineId: 'm1', change: 'isolation' }]);
  });

  it('records a break-glass release reported in an inventory, loudly', async () => {
    const { handler, machines, timeline, audit } = bed({ m1: { isolation: report({}), isolation_state: 'Isolated', busy: false } });
    const released = { state: 'NotIsolated' as const, type: null, since: null, releasedBy: 'breakGlass' as const };
    await handler.inventoryReported('m1', { isolation: released } as never);
    expect(machines.m1!.isolation_state).toBe('NotIsolated');
    expect(timeline).toEqual([expect.objectContaining({ eventType: 'IsolationReleasedOnDevice', actor: 'agent:m1' })]);
    expect(audit).toEqual([expect.objectContaining({ action: 'ReleaseIsolationOnDevice' })]);
  });

  it('says the device is isolated when it is, so the bar offers the release', () => {
    const { handler } = bed({});
    expect(handler.engaged('Isolate', { isolation_state: 'Isolated' } as MachineRow)).toBe(true);
    expect(handler.engaged('Isolate', { isolation_state: 'Pending' } as MachineRow)).toBe(false);
  });
});
