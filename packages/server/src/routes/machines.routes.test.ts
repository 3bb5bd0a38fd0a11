import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

describe('machines API', () => {
  it('lists and gets machines with the MDE shape (null, never absent)', async () => {
    const id = await h.enroll();
    const list = await h.call('GET', '/api/machines');
    expect(list.status).toBe(200);
    expect(list.body['@odata.context']).toContain('Machines');
    expect(list.body.value).toHaveLength(1);
    const m = list.body.value[0];
    expect(m.id).toMatch(/^[0-9a-f]{40}$/);
    expect(m).toMatchObject({ computerDnsName: 'web-01', healthStatus: 'Active', isolationState: 'NotIsolated', restrictionState: 'Unrestricted', riskScore: 'None', machineTags: [], lastExternalIpAddress: null, aadDeviceId: null });
    const one = await h.call('GET', `/api/machines/${id}`);
    expect(one.body.id).toBe(id);
    expect((await h.call('GET', `/api/v1.0/machines/${id}`)).body.id).toBe(id);
  });

  it('answers 404 ResourceNotFound for an unknown machine, after checking the token', async () => {
    const r = await h.call('GET', `/api/machines/${'a'.repeat(40)}`);
    expect(r.status).toBe(404);
    expect(r.body.error.code).toBe('ResourceNotFound');
    expect((await h.call('GET', `/api/machines/${'a'.repeat(40)}`, { token: null })).status).toBe(401);
  });

  it('filters with $filter, $top and $skip, percent-encoded or literal', async () => {
    const a = await h.enroll({ hostname: 'alpha' });
    await h.enroll({ hostname: 'beta' });
    await h.enroll({ hostname: 'gamma' });
    await h.call('POST', `/api/machines/${a}/tags`, { body: { Value: 'prod', Action: 'Add' } });
    const byTag = await h.call('GET', `/api/machines?$filter=${encodeURIComponent("machineTags/any(t: t eq 'prod')")}`);
    expect(byTag.body.value.map((m: { computerDnsName: string }) => m.computerDnsName)).toEqual(['alpha']);
    const encoded = await h.call('GET', `/api/machines?%24filter=computerDnsName+in+('beta','gamma')&%24top=1&%24skip=1`);
    expect(encoded.body.value.map((m: { computerDnsName: string }) => m.computerDnsName)).toEqual(['gamma']);
    const health = await h.call('GET', `/api/machines?$filter=${encodeURIComponent("healthStatus eq 'Active' and osPlatform eq 'Linux'")}`);
    expect(health.body.value).toHaveLength(3);
    h.clock.advance(3600_000);
    const inactive = await h.call('GET', `/api/machines?$filter=${encodeURIComponent("healthStatus eq 'Inactive'")}`);
    expect(inactive.body.value).toHaveLength(3);
    expect(inactive.body.value[0].healthStatus).toBe('Inactive');
  });

  it('finds machines by any part of a tag or name, in any case (contains, also inside any())', async () => {
    const a = await h.enroll({ hostname: 'web-Alpha' });
    const b = await h.enroll({ hostname: 'db-beta' });
    await h.call('POST', `/api/machines/${a}/tags`, { body: { Value: 'ux-review', Action: 'Add' } });
    await h.call('POST', `/api/machines/${b}/tags`, { body: { Value: 'UX_Lab', Action: 'Add' } });
    const names = async (filter: string) => {
      const r = await h.call('GET', `/api/machines?$filter=${encodeURIComponent(filter)}`);
      expect(r.status, filter).toBe(200);
      return r.body.value.map((m: { computerDnsName: string }) => m.computerDnsName).sort();
    };
    expect(await names("machineTags/any(t: contains(t,'ux'))")).toEqual(['db-beta', 'web-Alpha']);
    expect(await names("machineTags/any(t: contains(t,'REVIEW'))")).toEqual(['web-Alpha']);
    expect(await names("machineTags/any(t: startswith(t,'Ux-'))")).toEqual(['web-Alpha']);
    // LIKE's wildcards are matched as themselves.
    expect(await names("machineTags/any(t: contains(t,'_'))")).toEqual(['db-beta']);
    expect(await names("contains(computerDnsName,'ALPH')")).toEqual(['web-Alpha']);
    // The exact match stays exact.
    expect(await names("machineTags/any(t: t eq 'ux')")).toEqual([]);
  });

  it('rejects a bad $filter with 400 naming what to send', async () => {
    for (const [filter, text] of [
      ["nosuch eq 'x'", "Cannot filter on 'nosuch'"],
      ["riskScore eq 'Huge'", 'use one of None, Informational'],
      ["computerDnsName eq 'x", 'Unterminated string'],
      ["lastSeen gt 'yesterday'", 'lastSeen needs a date'],
    ] as const) {
      const r = await h.call('GET', `/api/machines?$filter=${encodeURIComponent(filter)}`);
      expect(r.status, filter).toBe(400);
      expect(r.body.error.code).toBe('InvalidInput');
      expect(r.body.error.message).toContain(text);
      expect(r.body.error.target).toBe('$filter');
    }
    expect((await h.call('GET', '/api/machines?$top=10001')).status).toBe(400);
  });

  it('finds machines by IP within 15 minutes of a timestamp', async () => {
    const id = await h.enroll({ ipAddresses: [{ address: '10.9.9.9', family: 'IPv4', interface: 'eth0', mac: null }] });
    const at = new Date(h.clock.t).toISOString();
    const r = await h.call('GET', `/api/machines/findbyip(ip='10.9.9.9',timestamp=${at})`);
    expect(r.status).toBe(200);
    expect(r.body.value.map((m: { id: string }) => m.id)).toEqual([id]);
    const later = new Date(h.clock.t + 3600_000).toISOString();
    expect((await h.call('GET', `/api/machines/findbyip(ip='10.9.9.9',timestamp=${later})`)).body.value).toEqual([]);
    expect((await h.call('GET', `/api/machines/findbyip(ip='nope',timestamp=${at})`)).status).toBe(400);
  });
});

describe('response readiness', () => {
  const names = async (filter: string) => {
    const r = await h.call('GET', `/api/machines?$filter=${encodeURIComponent(filter)}`);
    expect(r.status, filter).toBe(200);
    return r.body.value.map((m: { computerDnsName: string }) => m.computerDnsName);
  };
  const enrollFleet = async () => ({
    ready: await h.enroll({ hostname: 'ready', agentVersion: '0.2.0', capabilities: [{ name: 'inventory', version: '1' }, { name: 'isolation', version: '1' }, { name: 'investigationPackage', version: '1' }] }),
    noNft: await h.enroll({ hostname: 'no-nft', agentVersion: '0.2.0', capabilities: [{ name: 'isolation', version: '1', unavailable: 'nft is not installed' }, { name: 'investigationPackage', version: '1' }] }),
    old: await h.enroll({ hostname: 'old', agentVersion: '0.1.0', capabilities: [{ name: 'inventory', version: '1' }] }),
  });

  it('lists each device with what its agent can and cannot run, and why not', async () => {
    const { noNft } = await enrollFleet();
    const m = (await h.call('GET', `/api/machines/${noNft}`)).body;
    expect(m.usableActions).toEqual(['CollectInvestigationPackage']);
    expect(m.unusableActions).toContainEqual({ action: 'Isolate', reason: 'Isolate device: not available on no-nft: nft is not installed' });
    expect(m.unusableActions).toContainEqual({ action: 'RunAntiVirusScan', reason: "Run antivirus scan: this device's agent cannot scan yet" });
  });

  it('filters the devices that can, or cannot, take an action, in any case, before an incident', async () => {
    await enrollFleet();
    expect(await names("unusableActions/any(a: a eq 'Isolate')")).toEqual(['no-nft', 'old']);
    expect(await names("usableActions/any(a: a eq 'isolate')")).toEqual(['ready']);
    expect(await names("usableActions/any(a: a eq 'CollectInvestigationPackage') and unusableActions/any(a: a eq 'Isolate')")).toEqual(['no-nft']);
    expect(await names("usableActions/any(a: a in ('Isolate','RefreshInventory'))")).toEqual(['old', 'ready']);
    const bad = await h.call('GET', `/api/machines?$filter=${encodeURIComponent("usableActions/any(a: a eq 'Isolat')")}`);
    expect([bad.status, bad.body.error.message]).toEqual([400, expect.stringContaining("'Isolat' is not a valid usableActions; use one of Isolate, Unisolate")]);
  });

  it('follows what the agent reports next, and what this server offers at its start', async () => {
    const { noNft } = await enrollFleet();
    await h.server.services.machines.applyInventory(noNft, inventory({ hostname: 'no-nft', agentVersion: '0.2.0', capabilities: [{ name: 'isolation', version: '1', provider: 'nftables 1.0.6' }] }));
    expect(await names("unusableActions/any(a: a eq 'Isolate')")).toEqual(['old']);
    // A store written by another catalog (or before this column): the start puts it right.
    await h.server.db.updateTable('machines').set({ usable_actions: '' }).execute();
    expect(await names("usableActions/any(a: a eq 'Isolate')")).toEqual([]);
    expect(await h.server.services.machines.refreshReadiness()).toBe(3);
    expect(await names("usableActions/any(a: a eq 'Isolate')")).toEqual(['no-nft', 'ready']);
  });
});

describe('IP history', () => {
  it('keeps at most 512 addresses per machine, the newest', async () => {
    const id = await h.enroll();
    const repo = new (await import('../repositories/machines.repository.js')).MachinesRepository(h.server.db);
    await repo.recordIps(id, Array.from({ length: 600 }, (_, i) => `10.0.${i >> 8}.${i & 255}`), '2026-11-25T10:00:00.000Z');
    await repo.recordIps(id, ['10.9.9.9'], '2026-11-25T11:00:00.000Z');
    // 600 + 1 + the address reported at enrollment = 602 rows.
    expect(await h.server.services.machines.pruneIpHistory()).toBe(90);
    const n = await h.server.db.selectFrom('machine_ips').select((eb) => eb.fn.countAll<number>().as('n')).where('machine_id', '=', id).executeTakeFirstOrThrow();
    expect(Number(n.n)).toBe(512);
    expect((await h.call('GET', `/api/machines/findbyip(ip='10.9.9.9',timestamp=2026-11-25T11:00:00Z)`)).body.value).toHaveLength(1);
  });
});

describe('tags', () => {
  it('adds and removes a tag, records it on the timeline and in the audit log', async () => {
    const id = await h.enroll();
    const add = await h.call('POST', `/api/machines/${id}/tags`, { body: { Value: 'prod', Action: 'Add' }, token: h.tokens.analyst });
    expect(add.status).toBe(200);
    expect(add.body.machineTags).toEqual(['prod']);
    const rm = await h.call('POST', `/api/machines/${id}/tags`, { body: { value: 'prod', action: 'Remove' } });
    expect(rm.body.machineTags).toEqual([]);
    const tl = await h.call('GET', `/api/machines/${id}/timeline`);
    expect(tl.body.value.map((e: { eventType: string }) => e.eventType)).toEqual(expect.arrayContaining(['TagAdded', 'TagRemoved']));
    const audit = await h.call('GET', '/api/audit');
    expect(audit.body.value.map((a: { action: string }) => a.action)).toEqual(expect.arrayContaining(['AddTag', 'RemoveTag']));
  });

  it('tags many machines at once, and changes nothing when one id is unknown', async () => {
    const a = await h.enroll({ hostname: 'a' });
    const b = await h.enroll({ hostname: 'b' });
    const ok = await h.call('POST', '/api/machines/AddOrRemoveTagForMultipleMachines', { body: { Value: 'ir-2026', Action: 'Add', MachineIds: [a, b] } });
    expect(ok.status).toBe(200);
    expect(ok.body.value.every((m: { machineTags: string[] }) => m.machineTags.includes('ir-2026'))).toBe(true);
    const bad = await h.call('POST', '/api/machines/AddOrRemoveTagForMultipleMachines', { body: { Value: 'x', Action: 'Add', MachineIds: [a, 'f'.repeat(40)] } });
    expect(bad.status).toBe(404);
    expect((await h.call('GET', `/api/machines/${a}`)).body.machineTags).toEqual(['ir-2026']);
  });

  it('shows device-side tags as such, and the API cannot remove them', async () => {
    const id = await h.enroll({ deviceTags: ['pci'] });
    const m = (await h.call('GET', `/api/machines/${id}`)).body;
    expect(m.machineTags).toEqual(['pci']);
    expect(m.machineTagDetails).toEqual([{ tag: 'pci', source: 'device' }]);
    await h.call('POST', `/api/machines/${id}/tags`, { body: { Value: 'pci', Action: 'Remove' } });
    expect((await h.call('GET', `/api/machines/${id}`)).body.machineTags).toEqual(['pci']);
  });

  it('validates tag input', async () => {
    const id = await h.enroll();
    const cases: [unknown, string][] = [
      [{ Value: 'x', Action: 'Toggle' }, 'Action'],
      [{ Action: 'Add' }, 'Value'],
      [{ Value: '', Action: 'Add' }, 'Value'],
      [{ Value: 'x'.repeat(129), Action: 'Add' }, 'Value'],
      [{ Value: 'x', Action: 'Add', Extra: 1 }, 'Extra'],
      // Bidirectional overrides and isolates, zero-width characters: a tag that reads differently from what it is.
      [{ Value: 'prod\u202etset', Action: 'Add' }, 'Value'],
      [{ Value: 'pr\u2066od', Action: 'Add' }, 'Value'],
      [{ Value: 'pr\u200bod', Action: 'Add' }, 'Value'],
      [{ Value: 'a\u0007b', Action: 'Add' }, 'Value'],
    ];
    for (const [body, target] of cases) {
      const r = await h.call('POST', `/api/machines/${id}/tags`, { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.target).toBe(target);
    }
    expect((await h.call('POST', `/api/machines/${id}/tags`, { body: { Value: 'x', Action: 'Add' }, token: h.tokens.viewer })).status).toBe(403);
  });
});
