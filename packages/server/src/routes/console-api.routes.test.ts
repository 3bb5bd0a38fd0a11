import type { Inventory } from '@cordon/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

// The API features the web console stands on: prefix search, counts and sorting for paging, the
// caller's permissions, and which response actions a device offers.
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const names = (r: { body: { value: { computerDnsName: string }[] } }) => r.body.value.map((m) => m.computerDnsName);
const q = (s: string) => encodeURIComponent(s);

describe('lists for the console', () => {
  it('finds devices by the start of their name or IP address, case-insensitively, with LIKE wildcards taken literally', async () => {
    await h.enroll({ hostname: 'Web-01', ipAddresses: [{ address: '10.1.2.3', family: 'IPv4', interface: 'eth0', mac: null }] });
    await h.enroll({ hostname: 'web_02', ipAddresses: [] });
    await h.enroll({ hostname: 'db-01', ipAddresses: [{ address: '10.9.0.1', family: 'IPv4', interface: 'eth0', mac: null }] });
    await h.enroll({ hostname: '100%-host', ipAddresses: [] });
    expect(names(await h.call('GET', `/api/machines?$filter=${q("startswith(computerDnsName,'web')")}`))).toEqual(['Web-01', 'web_02']);
    expect(names(await h.call('GET', `/api/machines?$filter=${q("startswith(computerDnsName,'web_')")}`))).toEqual(['web_02']);
    expect(names(await h.call('GET', `/api/machines?$filter=${q("startswith(computerDnsName,'100%')")}`))).toEqual(['100%-host']);
    expect(names(await h.call('GET', `/api/machines?$filter=${q("startswith(computerDnsName,'%')")}`))).toEqual([]);
    expect(names(await h.call('GET', `/api/machines?$filter=${q("startswith(lastIpAddress,'10.1.')")}`))).toEqual(['Web-01']);
    // Any address a device reported, not only its last one.
    const multi = await h.enroll({ hostname: 'multi', ipAddresses: [{ address: '10.7.0.1', family: 'IPv4', interface: 'eth0', mac: null }, { address: '172.17.0.1', family: 'IPv4', interface: 'docker0', mac: null }] });
    expect(multi).toBeTruthy();
    expect(names(await h.call('GET', `/api/machines?$filter=${q("ipAddresses/any(a: a eq '172.17.0.1')")}`))).toEqual(['multi']);
    expect((await h.call('GET', `/api/machines?$filter=${q("ipAddresses eq '172.17.0.1'")}`)).status).toBe(400);
    const bad = await h.call('GET', `/api/machines?$filter=${q("startswith(machineTags,'x')")}`);
    expect([bad.status, bad.body.error.code]).toEqual([400, 'InvalidInput']);
  });

  it('answers @odata.count with $count=true and sorts with $orderby, pages never overlapping', async () => {
    for (const [hostname, risk] of [['a', 'High'], ['b', 'Low'], ['c', 'Medium'], ['d', 'High']] as const) {
      const id = await h.enroll({ hostname });
      await h.server.db.updateTable('machines').set({ risk_score: risk }).where('id', '=', id).execute();
    }
    const counted = await h.call('GET', '/api/machines?$top=2&$count=true');
    expect(counted.body['@odata.count']).toBe(4);
    expect(counted.body.value).toHaveLength(2);
    expect((await h.call('GET', '/api/machines')).body['@odata.count']).toBeUndefined();
    expect((await h.call('GET', `/api/machines?$count=true&$filter=${q("riskScore eq 'High'")}`)).body['@odata.count']).toBe(2);
    // Risk sorts by severity, not alphabetically; the name breaks the tie only when asked.
    expect(names(await h.call('GET', `/api/machines?$orderby=${q('riskScore desc,computerDnsName desc')}`))).toEqual(['d', 'a', 'c', 'b']);
    expect(names(await h.call('GET', `/api/machines?$orderby=${q('computerDnsName desc')}&$top=2&$skip=2`))).toEqual(['b', 'a']);
    for (const bad of ['password', 'computerDnsName sideways', 'a,b,c,d', "computerDnsName; drop table machines"]) {
      const r = await h.call('GET', `/api/machines?$orderby=${q(bad)}`);
      expect([bad, r.status, r.body.error.target]).toEqual([bad, 400, '$orderby']);
    }
    expect((await h.call('GET', '/api/machines?$count=maybe')).status).toBe(400);
  });

  it('counts and sorts machine actions too', async () => {
    const id = await h.enroll();
    await h.call('POST', `/api/machines/${id}/refreshInventory`, { body: { Comment: 'first' } });
    h.clock.advance(1000);
    const list = await h.call('GET', '/api/machineactions?$count=true&$orderby=creationDateTimeUtc%20asc');
    expect(list.status).toBe(200);
    expect(list.body['@odata.count']).toBe(1);
    expect((await h.call('GET', '/api/machineactions?$orderby=comment')).status).toBe(400);
  });
});

describe('what the console may offer', () => {
  it("tells each role's permissions", async () => {
    const viewer = await h.call('GET', '/api/auth/me', { token: h.tokens.viewer });
    expect(viewer.body.permissions).toContain('machines.read');
    expect(viewer.body.permissions).not.toContain('actions.submit');
    expect((await h.call('GET', '/api/auth/me', { token: h.tokens.responder })).body.permissions).toEqual(expect.arrayContaining(['actions.submit', 'actions.cancel', 'tags.write', 'packages.read']));
  });

  const capable: Partial<Inventory> = {
    agentVersion: '0.2.0',
    capabilities: [
      { name: 'inventory', version: '1' },
      { name: 'isolation', version: '1' },
      { name: 'investigationPackage', version: '1' },
    ],
  };
  const bar = async (id: string, token: string) => {
    const r = await h.call('GET', `/api/machines/${id}/responseActions`, { token });
    expect(r.status).toBe(200);
    return Object.fromEntries((r.body.value as { action: string; available: boolean; reason: string | null }[]).map((a) => [a.action, a.available ? 'ok' : a.reason]));
  };

  it('lists the action bar in the seed order, enabling what the agent can do and saying why not for the rest', async () => {
    const id = await h.enroll(capable);
    const r = await h.call('GET', `/api/machines/${id}/responseActions`, { token: h.tokens.responder });
    expect(r.body.value.map((a: { action: string }) => a.action)).toEqual(['ManageTags', 'AutomatedInvestigation', 'LiveResponse', 'CollectInvestigationPackage', 'RunAntiVirusScan', 'RestrictCodeExecution', 'Isolate', 'ConsultThreatExpert']);
    const b = await bar(id, h.tokens.responder);
    expect(b).toMatchObject({ ManageTags: 'ok', CollectInvestigationPackage: 'ok', Isolate: 'ok' });
    expect(b.RunAntiVirusScan).toBe("Run antivirus scan: this device's agent cannot scan yet");
    expect(b.AutomatedInvestigation).toBe('Initiate Automated Investigation: this Cordon server does not offer it yet');
    expect(b.ConsultThreatExpert).toBe('Consult a threat expert: this Cordon server does not offer it yet');
    expect(b.LiveResponse).toBe("Initiate Live Response Session: this device's agent cannot run live response commands yet");
  });

  it('offers a live response session to analysts and up on an agent that has it, and opens the one under way', async () => {
    const id = await h.enroll({ ...capable, capabilities: [...capable.capabilities!, { name: 'liveResponse', version: '1' }] });
    const entry = async (token: string) => {
      const r = await h.call('GET', `/api/machines/${id}/responseActions`, { token });
      return (r.body.value as { action: string; available: boolean; reason: string | null; path: string | null; describe: string | null }[]).find((a) => a.action === 'LiveResponse')!;
    };
    expect(await entry(h.tokens.viewer)).toMatchObject({ available: false, reason: 'Your role (viewer) may not open live response sessions; it takes the analyst role or higher' });
    expect(await entry(h.tokens.analyst)).toMatchObject({ available: true, reason: null, path: '/api/machines/{id}/liveResponseSessions', describe: null });
    const opened = await h.call('POST', `/api/machines/${id}/liveResponseSessions`, { token: h.tokens.analyst, body: { Comment: 'triage' } });
    expect(opened.status).toBe(201);
    // Under way: still usable, since the button then opens the session instead of a new one.
    expect(await entry(h.tokens.responder)).toMatchObject({ available: true, reason: null, describe: expect.stringContaining('already under way') });
    expect((await entry(h.tokens.viewer)).available).toBe(false);
  });

  it('disables every action for a viewer with the reason, and the API refuses it if forced', async () => {
    const id = await h.enroll(capable);
    const b = await bar(id, h.tokens.viewer);
    for (const [action, reason] of Object.entries(b)) expect([action, reason]).toEqual([action, expect.stringMatching(/viewer|does not offer/)]);
    expect(b.ManageTags).toContain('analyst');
    expect(b.Isolate).toContain('responder');
    expect((await h.call('POST', `/api/machines/${id}/isolate`, { token: h.tokens.viewer, body: { Comment: 'forced', IsolationType: 'Full' } })).status).toBe(403);
    // An analyst may manage tags but not respond.
    expect((await bar(id, h.tokens.analyst)).ManageTags).toBe('ok');
  });

  it('says what is already under way, and offers Release once the device is isolated', async () => {
    const id = await h.enroll(capable);
    await h.call('POST', `/api/machines/${id}/isolate`, { body: { Comment: 'contain', IsolationType: 'Full' } });
    await h.call('POST', `/api/machines/${id}/collectInvestigationPackage`, { body: { Comment: 'triage' } });
    const busy = await bar(id, h.tokens.admin);
    expect(busy.Isolate).toContain('already under way');
    expect(busy.CollectInvestigationPackage).toContain('already being collected');
    await h.server.db.updateTable('actions').set({ status: 'Succeeded' }).where('machine_id', '=', id).execute();
    await h.server.db.updateTable('machines').set({ isolation_state: 'Isolated' }).where('id', '=', id).execute();
    const isolated = await bar(id, h.tokens.admin);
    expect(isolated.Unisolate).toBe('ok');
    expect(isolated.Isolate).toBeUndefined();
    expect((await h.call('GET', `/api/machines/${'f'.repeat(40)}/responseActions`)).status).toBe(404);
  });
});
