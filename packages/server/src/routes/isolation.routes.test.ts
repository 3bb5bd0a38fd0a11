import { ActionParameters, verifyCommand, verifyReleaseToken, type Inventory } from '@cordon/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { CordonEvent } from '../events.js';
import type { MachinesRepository } from '../repositories/machines.repository.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

/** A device whose agent can isolate. */
const capable = (over: Partial<Inventory> = {}): Partial<Inventory> => ({ agentVersion: '0.2.0', capabilities: [{ name: 'inventory', version: '1' }, { name: 'isolation', version: '1' }], ...over });
const isolate = (id: string, type = 'Full', token?: string) => h.call('POST', `/api/machines/${id}/isolate`, { body: { Comment: 'contain', IsolationType: type }, token });
const unisolate = (id: string) => h.call('POST', `/api/machines/${id}/unisolate`, { body: { Comment: 'all clear' } });
const state = async (id: string) => (await h.call('GET', `/api/machines/${id}`)).body.isolationState as string;
const audit = async () => (await h.call('GET', '/api/audit?$top=1000')).body.value as { actor: string; action: string; outcome: string; targetId: string | null; comment: string | null; detail: any }[];
const putGlobal = (allow: unknown[], token?: string) => h.call('PUT', '/api/isolationPolicies/global', { body: { Comment: 'baseline', Allow: allow }, token });
const putTag = (tag: string, allow: unknown[]) => h.call('PUT', `/api/isolationPolicies/tags/${encodeURIComponent(tag)}`, { body: { comment: `for ${tag}`, allow } });
const signedParameters = async (actionId: string) => {
  const row = await h.server.db.selectFrom('actions').selectAll().where('id', '=', actionId).executeTakeFirstOrThrow();
  const v = verifyCommand({ payload: row.signed_payload, signature: row.signature, keyId: row.key_id, ...(row.signature_proof ? { proof: JSON.parse(row.signature_proof) } : {}) }, h.server.keys.signingPublicKeyPem, row.machine_id, h.clock.now());
  if (!v.ok) throw new Error(v.detail);
  return v.command.parameters;
};

describe('isolation state', () => {
  it('is Pending while an Isolate or Unisolate is in flight, then what the agent reports', async () => {
    const id = await h.enroll(capable());
    const events: CordonEvent[] = [];
    h.server.hub.subscribe((e) => events.push(e));
    const reports = h.server.services.agentReports;
    expect(await state(id)).toBe('NotIsolated');
    expect((await h.call('GET', `/api/machines/${id}`)).body.isolation).toBeNull();

    const a = await isolate(id);
    expect(a.status).toBe(201);
    expect(a.body).toMatchObject({ type: 'Isolate', scope: 'Full', parameters: { isolationType: 'Full' } });
    expect(a.body.parameters).not.toHaveProperty('allow');
    expect(await state(id)).toBe('Pending');
    expect(events).toContainEqual({ kind: 'machine', machineId: id, change: 'isolation' });
    const pending = await h.call('GET', `/api/machines?$filter=${encodeURIComponent("isolationState eq 'Pending'")}`);
    expect(pending.body.value.map((m: { id: string }) => m.id)).toEqual([id]);
    await reports.agentAck(id, a.body.id);
    expect(await state(id)).toBe('Pending');
    // An inventory while the action is in flight does not end Pending.
    await h.server.services.machines.applyInventory(id, inventory(capable({ isolation: { state: 'NotIsolated', type: null, since: null, releasedBy: null } })));
    expect(await state(id)).toBe('Pending');
    await reports.agentResult(id, a.body.id, 'Succeeded', null, null);
    const m = (await h.call('GET', `/api/machines/${id}`)).body;
    expect(m.isolationState).toBe('Isolated');
    expect(m.isolation).toMatchObject({ state: 'Isolated', type: 'Full', releasedBy: null });

    // A failed release leaves it isolated; a cancelled one too.
    const u = await unisolate(id);
    expect(await state(id)).toBe('Pending');
    await reports.agentResult(id, u.body.id, 'Failed', 'nft failed', null);
    expect(await state(id)).toBe('Isolated');
    const u2 = await unisolate(id);
    await h.call('POST', `/api/machineactions/${u2.body.id}/cancel`, { body: { Comment: 'not yet' } });
    expect(await state(id)).toBe('Isolated');

    // The report an agent sends with its result wins over what success implies.
    const u3 = await unisolate(id);
    await reports.agentResult(id, u3.body.id, 'Succeeded', null, { isolation: { state: 'NotIsolated', type: null, since: '2026-11-25T10:00:00.000Z', releasedBy: 'action' } });
    expect((await h.call('GET', `/api/machines/${id}`)).body).toMatchObject({ isolationState: 'NotIsolated', isolation: { releasedBy: 'action', since: '2026-11-25T10:00:00.000Z' } });

    // An isolation that times out leaves the device as its agent last reported it.
    await isolate(id);
    h.clock.advance(3 * 86400_000 + 1000);
    expect(await h.server.services.actionExpiry.sweepExpired()).toBe(1);
    expect(await state(id)).toBe('NotIsolated');
  });

  it('keeps the report the agent sent before its result (inventory first, as the agent does)', async () => {
    const id = await h.enroll(capable());
    const a = await isolate(id);
    await h.server.services.agentReports.agentAck(id, a.body.id);
    const report = { state: 'Isolated', type: 'Full', since: '2026-11-25T09:59:59.000Z', releasedBy: null } as const;
    await h.server.services.machines.applyInventory(id, inventory(capable({ isolation: report })));
    expect(await state(id)).toBe('Pending');
    await h.server.services.agentReports.agentResult(id, a.body.id, 'Succeeded', null, { rulesApplied: true });
    expect((await h.call('GET', `/api/machines/${id}`)).body).toMatchObject({ isolationState: 'Isolated', isolation: report });
  });

  it('follows inventory reports, and records a break-glass release on the device', async () => {
    const id = await h.enroll(capable({ isolation: { state: 'Isolated', type: 'Full', since: '2026-11-25T09:00:00.000Z', releasedBy: null } }));
    expect(await state(id)).toBe('Isolated');
    const machines = h.server.services.machines;
    // An older agent that says nothing about isolation changes nothing.
    await machines.applyInventory(id, inventory(capable()));
    expect(await state(id)).toBe('Isolated');
    await machines.applyInventory(id, inventory(capable({ isolation: { state: 'NotIsolated', type: null, since: '2026-11-25T10:00:00.000Z', releasedBy: 'breakGlass' } })));
    expect(await state(id)).toBe('NotIsolated');
    const tl = (await h.call('GET', `/api/machines/${id}/timeline?eventType=IsolationReleasedOnDevice`)).body.value;
    expect(tl).toHaveLength(1);
    expect(tl[0]).toMatchObject({ title: 'Isolation released on the device with a break-glass token', actor: `agent:${id}` });
    expect((await audit()).filter((x) => x.action === 'ReleaseIsolationOnDevice')).toMatchObject([{ actor: `agent:${id}`, targetId: id, outcome: 'Succeeded' }]);
    // The same report again is not a second release.
    await machines.applyInventory(id, inventory(capable({ isolation: { state: 'NotIsolated', type: null, since: '2026-11-25T10:00:00.000Z', releasedBy: 'breakGlass' } })));
    expect((await h.call('GET', `/api/machines/${id}/timeline?eventType=IsolationReleasedOnDevice`)).body.value).toHaveLength(1);
  });

  it('re-derives the state on an inventory only when its report changed (a hello costs no isolation query)', async () => {
    const id = await h.enroll(capable());
    const machines = h.server.services.machines;
    const inputs = vi.spyOn((machines as unknown as { repo: MachinesRepository }).repo, 'isolationInputs');
    const isolated = { state: 'Isolated', type: 'Full', since: '2026-11-25T09:00:00.000Z', releasedBy: null } as const;
    // No report (older agents, the benchmark's simulated fleet): nothing to read or derive.
    await machines.applyInventory(id, inventory(capable()));
    expect(inputs).toHaveBeenCalledTimes(0);
    expect(await state(id)).toBe('NotIsolated');
    // A new report: the stored one is read (break-glass check), then the state is derived.
    await machines.applyInventory(id, inventory(capable({ isolation: isolated })));
    expect(inputs).toHaveBeenCalledTimes(2);
    expect(await state(id)).toBe('Isolated');
    // The same report again (every reconnect): read once, nothing to derive.
    await machines.applyInventory(id, inventory(capable({ isolation: isolated })));
    expect(inputs).toHaveBeenCalledTimes(3);
    expect(await state(id)).toBe('Isolated');
    // While an isolation action is in flight a changed report still leaves it Pending.
    const u = await unisolate(id);
    await machines.applyInventory(id, inventory(capable({ isolation: { ...isolated, since: '2026-11-25T09:30:00.000Z' } })));
    expect(await state(id)).toBe('Pending');
    await h.server.services.agentReports.agentResult(id, u.body.id, 'Succeeded', null, { isolation: { state: 'NotIsolated', type: null, since: null, releasedBy: 'action' } });
    expect(await state(id)).toBe('NotIsolated');
    inputs.mockRestore();
  });

  it('repairs a state an interrupted write left behind at the next inventory, even when the report is the same', async () => {
    const id = await h.enroll(capable());
    const isolated = { state: 'Isolated', type: 'Full', since: '2026-11-25T09:00:00.000Z', releasedBy: null } as const;
    await h.server.services.machines.applyInventory(id, inventory(capable({ isolation: isolated })));
    expect(await state(id)).toBe('Isolated');
    // A crash after the result was stored but before the state was re-derived leaves it Pending with nothing in flight.
    await h.server.db.updateTable('machines').set({ isolation_state: 'Pending' }).where('id', '=', id).execute();
    await h.server.services.machines.applyInventory(id, inventory(capable({ isolation: isolated })));
    expect(await state(id)).toBe('Isolated');
  });

  it('refuses an Isolate while an Unisolate is active (and the reverse) with the exact MDE body', async () => {
    const id = await h.enroll(capable());
    await putGlobal([{ destination: '10.0.0.0/8' }]);
    expect((await isolate(id)).status).toBe(201);
    for (const r of [await unisolate(id), await isolate(id, 'Selective')]) {
      expect(r.status).toBe(400);
      expect(r.text).toBe(`{"error":{"code":"ActiveRequestAlreadyExists","message":"Action is already in progress","target":"${id}"}}`);
    }
    const other = await h.enroll(capable({ hostname: 'web-02' }));
    expect((await unisolate(other)).status).toBe(201);
    expect((await isolate(other)).text).toContain('ActiveRequestAlreadyExists');
    const bulk = await h.call('POST', '/api/machineactions/bulk', { body: { Type: 'Isolate', IsolationType: 'Full', Comment: 'all', MachineIds: [id, other] } });
    expect(bulk.body.value).toEqual([]);
    expect(bulk.body.skipped.map((s: { code: string }) => s.code)).toEqual(['ActiveRequestAlreadyExists', 'ActiveRequestAlreadyExists']);
    // Other action types are not held up by an isolation in flight.
    expect((await h.call('POST', `/api/machines/${id}/refreshInventory`, { body: { Comment: 'x' } })).status).toBe(201);
  });

  it('keeps a cancelled Isolate cancelled when its ack arrives after a newer Unisolate (no store error)', async () => {
    const id = await h.enroll(capable());
    const reports = h.server.services.agentReports;
    const iso = await isolate(id);
    expect((await h.call('POST', `/api/machineactions/${iso.body.id}/cancel`, { body: { Comment: 'wrong box' } })).status).toBe(200);
    const un = await unisolate(id);
    expect(un.status).toBe(201);
    // Both acks land in one batch: a store error on one must not lose the other.
    await Promise.all([reports.agentAck(id, iso.body.id), reports.agentAck(id, un.body.id)]);
    expect((await h.call('GET', `/api/machineactions/${iso.body.id}`)).body.status).toBe('Cancelled');
    expect((await h.call('GET', `/api/machineactions/${un.body.id}`)).body.status).toBe('InProgress');
  });

  it('answers 400 for an unknown IsolationType', async () => {
    const id = await h.enroll(capable());
    const r = await h.call('POST', `/api/machines/${id}/isolate`, { body: { Comment: 'x', IsolationType: 'Partial' } });
    expect([r.status, r.body.error.code, r.body.error.target]).toEqual([400, 'InvalidRequestBody', 'IsolationType']);
    expect(await state(id)).toBe('NotIsolated');
  });

  it('answers NotSupported with the reason when the device lacks what isolation needs', async () => {
    const id = await h.enroll(capable({ capabilities: [{ name: 'isolation', version: '1', unavailable: 'nft is not installed (install nftables)' }] }));
    const r = await isolate(id);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'NotSupported', message: 'Isolate device: not available on web-01: nft is not installed (install nftables)' });
    expect((await audit()).some((a) => a.action === 'Isolate' && a.outcome === 'Refused' && a.detail.reason.includes('nft is not installed'))).toBe(true);
    expect(await state(id)).toBe('NotIsolated');
    expect((await h.call('GET', '/api/machineactions')).body.value).toEqual([]);
  });
});

describe('selective-isolation policies', () => {
  it('creates, reads, lists, replaces and deletes policies, auditing every write', async () => {
    expect((await h.call('GET', '/api/isolationPolicies/global')).body).toEqual({ scope: 'global', tag: null, allow: [], comment: null, updatedAt: null, updatedBy: null });
    expect((await h.call('GET', '/api/isolationPolicies')).body.value).toEqual([]);
    const g = await putGlobal([{ destination: '10.0.0.0/8', description: 'corp' }, { Program: '/usr/bin/ssh' }]);
    expect(g.status).toBe(200);
    expect(g.body).toEqual({ scope: 'global', tag: null, allow: [{ destination: '10.0.0.0/8', description: 'corp' }, { program: '/usr/bin/ssh' }], comment: 'baseline', updatedAt: '2026-11-25T10:00:00.000Z', updatedBy: 'admin' });
    const t = await putTag('prod web', [{ unit: 'sshd.service' }, { destination: 'updates.example.com:443' }]);
    expect(t.status).toBe(200);
    expect(t.body).toMatchObject({ scope: 'tag', tag: 'prod web', comment: 'for prod web' });
    expect((await h.call('GET', '/api/isolationPolicies/tags/prod%20web')).body.allow).toEqual([{ unit: 'sshd.service' }, { destination: 'updates.example.com:443' }]);
    const list = await h.call('GET', '/api/v1.0/isolationPolicies', { token: h.tokens.viewer });
    expect(list.body.value.map((p: { scope: string; tag: string | null }) => [p.scope, p.tag])).toEqual([['global', null], ['tag', 'prod web']]);
    // Replacing is whole.
    await putTag('prod web', [{ unit: 'nginx.service' }]);
    expect((await h.call('GET', '/api/isolationPolicies/tags/prod%20web')).body.allow).toEqual([{ unit: 'nginx.service' }]);

    expect((await h.call('DELETE', '/api/isolationPolicies/tags/prod%20web', { body: {} })).body.error.target).toBe('Comment');
    const del = await h.call('DELETE', '/api/isolationPolicies/tags/prod%20web', { body: { Comment: 'decommissioned' } });
    expect(del.status).toBe(204);
    expect((await h.call('GET', '/api/isolationPolicies/tags/prod%20web')).body.error.code).toBe('ResourceNotFound');
    expect((await h.call('DELETE', '/api/isolationPolicies/tags/prod%20web?comment=again')).status).toBe(404);
    await putTag('db', [{ unit: 'postgresql.service' }]);
    expect((await h.call('DELETE', '/api/isolationPolicies/tags/db?comment=gone')).status).toBe(204);

    const writes = (await audit()).filter((a) => a.action.endsWith('IsolationPolicy')).reverse();
    expect(writes.map((a) => [a.action, a.targetId, a.comment, a.outcome])).toEqual([
      ['SetIsolationPolicy', 'global', 'baseline', 'Succeeded'],
      ['SetIsolationPolicy', 'tag:prod web', 'for prod web', 'Succeeded'],
      ['SetIsolationPolicy', 'tag:prod web', 'for prod web', 'Succeeded'],
      ['DeleteIsolationPolicy', 'tag:prod web', 'decommissioned', 'Succeeded'],
      ['SetIsolationPolicy', 'tag:db', 'for db', 'Succeeded'],
      ['DeleteIsolationPolicy', 'tag:db', 'gone', 'Succeeded'],
    ]);
    expect(writes[2]!.detail).toEqual({ allow: [{ unit: 'nginx.service' }], previous: [{ unit: 'sshd.service' }, { destination: 'updates.example.com:443' }] });
  });

  it('refuses a malformed entry naming it, and stores nothing', async () => {
    await putGlobal([{ destination: '192.168.0.0/16' }]);
    const cases: [unknown[], string, string][] = [
      [[{ destination: '10.0.0.0/8' }, { destination: '10.0.0.0/33' }], 'Allow.1.destination', '10.0.0.0/33'],
      [[{ destination: 'host:99999' }], 'Allow.0.destination', 'host:99999'],
      [[{ unit: 'sshd.service' }, { destination: '10.0.0.1' }, { program: 'usr/bin/ssh' }], 'Allow.2.program', 'absolute path'],
      [[{ program: '/usr/../bin/sh' }], 'Allow.0.program', '..'],
      [[{ unit: 'sshd' }], 'Allow.0.unit', 'systemd'],
      [[{ destination: '10.0.0.1', program: '/bin/x' }], 'Allow.0', 'exactly one'],
      [[{ description: 'nothing' }], 'Allow.0', 'exactly one'],
      [[{ destination: '10.0.0.1', port: 22 }], 'Allow.0.port', 'not a known field'],
      [['10.0.0.1'], 'Allow.0', 'must be an object'],
    ];
    for (const [allow, target, text] of cases) {
      for (const r of [await putGlobal(allow), await putTag('prod', allow)]) {
        expect(r.status, JSON.stringify(allow)).toBe(400);
        expect(r.body.error.code).toBe('InvalidRequestBody');
        expect(r.body.error.target, JSON.stringify(r.body)).toBe(target);
        expect(r.body.error.message).toContain(text);
      }
    }
    const missing = await h.call('PUT', '/api/isolationPolicies/global', { body: { Allow: [] } });
    expect([missing.status, missing.body.error.target]).toEqual([400, 'Comment']);
    expect((await h.call('PUT', '/api/isolationPolicies/global', { body: { Comment: 'x', Allow: 'all' } })).body.error.target).toBe('Allow');
    expect((await h.call('GET', '/api/isolationPolicies/global')).body.allow).toEqual([{ destination: '192.168.0.0/16' }]);
    expect((await h.call('GET', '/api/isolationPolicies/tags/prod')).status).toBe(404);
    expect((await audit()).filter((a) => a.action === 'SetIsolationPolicy' && a.outcome === 'Refused').length).toBe(cases.length * 2);
  });

  it('lets viewers read policies, and only admins write them or issue release tokens', async () => {
    const id = await h.enroll(capable());
    expect((await h.call('GET', '/api/isolationPolicies/global', { token: h.tokens.viewer })).status).toBe(200);
    expect((await h.call('GET', `/api/machines/${id}/isolationPolicy`, { token: h.tokens.viewer })).status).toBe(200);
    for (const role of ['viewer', 'analyst', 'responder'] as const) {
      expect((await putGlobal([{ destination: '10.0.0.0/8' }], h.tokens[role])).status, role).toBe(403);
      expect((await h.call('DELETE', '/api/isolationPolicies/tags/x?comment=y', { token: h.tokens[role] })).status, role).toBe(403);
      expect((await h.call('POST', `/api/machines/${id}/releaseToken`, { body: { Comment: 'dr test' }, token: h.tokens[role] })).status, role).toBe(403);
    }
    expect((await h.call('GET', '/api/isolationPolicies/global', { token: null })).status).toBe(401);
    expect((await h.call('GET', '/api/isolationPolicies/global')).body.allow).toEqual([]);
  });

  it('resolves the effective allow list of a machine from the global and its tag policies', async () => {
    const id = await h.enroll(capable({ deviceTags: ['db'] }));
    await h.call('POST', `/api/machines/${id}/tags`, { body: { Value: 'prod', Action: 'Add' } });
    await putGlobal([{ destination: '10.0.0.0/8' }, { program: '/usr/bin/ssh' }]);
    await putTag('prod', [{ destination: '10.0.0.0/8', description: 'again' }, { unit: 'sshd.service' }]);
    await putTag('db', [{ destination: 'Backup.Example.com:443' }]);
    await putTag('elsewhere', [{ destination: '172.16.0.1' }]);
    const r = await h.call('GET', `/api/machines/${id}/isolationPolicy`, { token: h.tokens.analyst });
    expect(r.status).toBe(200);
    expect(r.body).toEqual({
      machineId: id,
      computerDnsName: 'web-01',
      // 'db' is a device-side tag: a device's own claim never chooses its security policy.
      policies: ['global', 'tag:prod'],
      allow: [
        { destination: '10.0.0.0/8', from: ['global', 'tag:prod'] },
        { program: '/usr/bin/ssh', from: ['global'] },
        { unit: 'sshd.service', from: ['tag:prod'] },
      ],
    });
    await h.call('POST', `/api/machines/${id}/tags`, { body: { Value: 'db', Action: 'Add' } });
    const withUserTag = await h.call('GET', `/api/machines/${id}/isolationPolicy`);
    expect(withUserTag.body.policies).toEqual(['global', 'tag:db', 'tag:prod']);
    expect(withUserTag.body.allow).toContainEqual({ destination: 'Backup.Example.com:443', from: ['tag:db'] });
    expect((await h.call('GET', `/api/machines/${'f'.repeat(40)}/isolationPolicy`)).status).toBe(404);
  });
});

describe('selective isolation', () => {
  it('signs the resolved allow list into a Selective isolation, and nothing into a Full one', async () => {
    const id = await h.enroll(capable());
    await h.call('POST', `/api/machines/${id}/tags`, { body: { Value: 'prod', Action: 'Add' } });
    await putGlobal([{ destination: '10.0.0.0/8' }]);
    await putTag('prod', [{ unit: 'sshd.service', description: 'ops access' }, { destination: '10.0.0.0/8' }]);
    const s = await isolate(id, 'Selective');
    expect(s.status).toBe(201);
    const allow = [{ destination: '10.0.0.0/8' }, { unit: 'sshd.service', description: 'ops access' }];
    expect(s.body).toMatchObject({ scope: 'Selective', parameters: { isolationType: 'Selective', allow } });
    const signed = await signedParameters(s.body.id);
    expect(signed).toEqual({ isolationType: 'Selective', allow });
    // The agent checks parameters strictly: what was signed must pass its schema.
    expect(ActionParameters.Isolate.safeParse(signed).success).toBe(true);
    expect((await audit()).find((a) => a.action === 'Isolate')!.detail.parameters).toEqual({ isolationType: 'Selective', allow });

    await h.server.services.agentReports.agentResult(id, s.body.id, 'Succeeded', null, null);
    expect((await h.call('GET', `/api/machines/${id}`)).body.isolation).toMatchObject({ state: 'Isolated', type: 'Selective' });
    const other = await h.enroll(capable({ hostname: 'web-02' }));
    const f = await isolate(other, 'Full');
    expect(await signedParameters(f.body.id)).toEqual({ isolationType: 'Full' });
  });

  it('refuses a Selective isolation no policy applies to, storing nothing', async () => {
    const id = await h.enroll(capable());
    await putTag('prod', [{ unit: 'sshd.service' }]);
    const r = await isolate(id, 'Selective');
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('InvalidInput');
    expect(r.body.error.message).toBe('No selective-isolation policy applies to web-01; define one with PUT /api/isolationPolicies/global or /api/isolationPolicies/tags/{tag}');
    expect((await h.call('GET', '/api/machineactions')).body.value).toEqual([]);
    expect(await state(id)).toBe('NotIsolated');
    expect((await audit()).find((a) => a.action === 'Isolate')).toMatchObject({ outcome: 'Refused', targetId: id });
    // An empty global policy is no policy either.
    await putGlobal([]);
    expect((await isolate(id, 'Selective')).body.error.code).toBe('InvalidInput');
  });

  it('gives each machine of a bulk Selective isolation its own list, skipping those without one', async () => {
    const a = await h.enroll(capable({ hostname: 'a' }));
    const b = await h.enroll(capable({ hostname: 'b' }));
    const c = await h.enroll(capable({ hostname: 'c' }));
    const none = await h.enroll(capable({ hostname: 'none', deviceTags: ['web'] }));
    await h.call('POST', '/api/machines/AddOrRemoveTagForMultipleMachines', { body: { Value: 'web', Action: 'Add', MachineIds: [a, c] } });
    await h.call('POST', `/api/machines/${b}/tags`, { body: { Value: 'db', Action: 'Add' } });
    await putTag('web', [{ destination: 'cdn.example.com:443' }]);
    await putTag('db', [{ unit: 'postgresql.service' }]);
    const r = await h.call('POST', '/api/machineactions/bulk', { body: { Type: 'Isolate', IsolationType: 'Selective', Comment: 'outbreak', MachineIds: [a, b, c, none] } });
    expect(r.status).toBe(201);
    const byMachine = new Map(r.body.value.map((x: { machineId: string; id: string }) => [x.machineId, x.id]));
    expect([...byMachine.keys()].sort()).toEqual([a, b, c].sort());
    expect(await signedParameters(byMachine.get(a) as string)).toEqual({ isolationType: 'Selective', allow: [{ destination: 'cdn.example.com:443' }] });
    expect(await signedParameters(byMachine.get(c) as string)).toEqual({ isolationType: 'Selective', allow: [{ destination: 'cdn.example.com:443' }] });
    expect(await signedParameters(byMachine.get(b) as string)).toEqual({ isolationType: 'Selective', allow: [{ unit: 'postgresql.service' }] });
    expect(r.body.skipped).toEqual([{ machineId: none, code: 'InvalidInput', message: expect.stringContaining('No selective-isolation policy applies to none') }]);
    for (const id of [a, b, c]) expect(await state(id)).toBe('Pending');
    expect(await state(none)).toBe('NotIsolated');
  });
});

describe('break-glass release tokens', () => {
  it('issues a signed token for one machine that verifies offline, and keeps only a record of it', async () => {
    const id = await h.enroll(capable());
    const r = await h.call('POST', `/api/machines/${id}/releaseToken`, { body: { Comment: 'server migration' } });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ machineId: id, computerDnsName: 'web-01', expiresAt: '2026-11-26T10:00:00.000Z' });
    const pub = h.server.keys.signingPublicKeyPem;
    const v = verifyReleaseToken(r.body.token, pub, id, h.clock.now());
    expect(v).toEqual({ ok: true, claims: { purpose: 'release-isolation', tokenId: r.body.tokenId, machineId: id, issuedBy: 'admin', issuedAt: '2026-11-25T10:00:00.000Z', expiresAt: '2026-11-26T10:00:00.000Z', isolatedSince: null } });
    expect(verifyReleaseToken(r.body.token, pub, 'b'.repeat(40), h.clock.now()).ok).toBe(false);
    expect(verifyReleaseToken(r.body.token, pub, id, new Date(Date.parse('2026-11-26T10:00:01.000Z'))).ok).toBe(false);

    const short = await h.call('POST', `/api/machines/${id}/releaseToken`, { body: { comment: 'drill', expiresInHours: 2 } });
    expect(short.body.expiresAt).toBe('2026-11-25T12:00:00.000Z');
    const rows = await h.server.db.selectFrom('release_tokens').selectAll().orderBy('issued_at').execute();
    expect(rows.map((x) => [x.id, x.machine_id, x.issued_by, x.expires_at, x.comment]).sort()).toEqual(
      [
        [r.body.tokenId, id, 'admin', '2026-11-26T10:00:00.000Z', 'server migration'],
        [short.body.tokenId, id, 'admin', '2026-11-25T12:00:00.000Z', 'drill'],
      ].sort(),
    );
    const records = (await audit()).filter((a) => a.action === 'IssueReleaseToken');
    expect(records).toHaveLength(2);
    expect(JSON.stringify(records)).not.toContain(r.body.token.split('.')[2]);
    expect((await h.call('GET', `/api/machines/${id}/timeline?eventType=ReleaseTokenIssued`)).body.value).toHaveLength(2);
  });

  it('binds a token to the isolation in force when it is issued', async () => {
    const id = await h.enroll(capable({ isolation: { state: 'Isolated', type: 'Full', since: '2026-11-25T09:00:00.000Z', releasedBy: null } }));
    const r = await h.call('POST', `/api/machines/${id}/releaseToken`, { body: { Comment: 'incident 7' } });
    expect(r.body.isolatedSince).toBe('2026-11-25T09:00:00.000Z');
    const v = verifyReleaseToken(r.body.token, h.server.keys.signingPublicKeyPem, id, h.clock.now());
    expect(v.ok && v.claims.isolatedSince).toBe('2026-11-25T09:00:00.000Z');
  });

  it('validates the request', async () => {
    const id = await h.enroll(capable());
    for (const [body, target] of [
      [{}, 'Comment'],
      [{ Comment: 'x', ExpiresInHours: 0 }, 'ExpiresInHours'],
      [{ Comment: 'x', ExpiresInHours: 721 }, 'ExpiresInHours'],
      [{ Comment: 'x', ExpiresInHours: 1.5 }, 'ExpiresInHours'],
      [{ Comment: 'x', Hours: 2 }, 'Hours'],
    ] as const) {
      const r = await h.call('POST', `/api/machines/${id}/releaseToken`, { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.target).toBe(target);
    }
    expect((await h.call('POST', `/api/machines/${'f'.repeat(40)}/releaseToken`, { body: { Comment: 'x' } })).status).toBe(404);
    expect(await h.server.db.selectFrom('release_tokens').selectAll().execute()).toEqual([]);
  });
});
