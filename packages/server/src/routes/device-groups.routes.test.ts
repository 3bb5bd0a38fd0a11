import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

// Device groups against a real server and store (SQLite, and PostgreSQL in the postgres project).
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const LIVE = { agentVersion: '0.2.0', capabilities: [{ name: 'inventory', version: '1' }, { name: 'liveResponse', version: '1' }] };
const tag = (id: string, value: string, action = 'Add') => h.call('POST', `/api/machines/${id}/tags`, { body: { Value: value, Action: action } });
const add = (body: Record<string, unknown>, token?: string) => h.call('POST', '/api/machinegroups', { body, token });
const groupOf = async (id: string) => {
  const m = (await h.call('GET', `/api/machines/${id}`)).body;
  return [m.rbacGroupId, m.rbacGroupName];
};
/** Opens a live-response session and answers whether it was opened with `shell` allowed, then ends it. */
const shellAllowed = async (id: string): Promise<boolean> => {
  const s = await h.call('POST', `/api/machines/${id}/liveResponseSessions`, { body: { Comment: 'look around' } });
  expect(s.status).toBe(201);
  const action = (await h.call('GET', `/api/machineactions/${s.body.id}`)).body;
  await h.call('POST', `/api/machineactions/${s.body.id}/cancel`, { body: { Comment: 'done' } });
  return action.parameters.session.shell;
};

describe('device groups', () => {
  it('put each device in the highest-ranked group whose tag it carries (any case), else Ungrouped devices; shell follows the group', async () => {
    const [web, both, plain, selfTagged] = [await h.enroll(LIVE), await h.enroll(LIVE), await h.enroll(LIVE), await h.enroll({ ...LIVE, deviceTags: ['web'] })];
    await tag(web, 'Web');
    await tag(both, 'web');
    await tag(both, 'db');

    const webGroup = await add({ Name: 'Web servers', Description: 'front ends', Rule: { Tag: 'WEB' }, LiveResponseShell: true, Comment: 'shell for the web team' });
    expect(webGroup.status).toBe(200);
    expect(webGroup.body).toMatchObject({ name: 'Web servers', description: 'front ends', rank: 1, rule: { tag: 'WEB' }, liveResponseShell: true, createdBy: 'admin', updatedBy: 'admin' });
    // No rank: after every other group.
    const dbGroup = await add({ name: 'Databases', rule: { tag: 'db' } });
    expect([dbGroup.status, dbGroup.body.rank, dbGroup.body.liveResponseShell, dbGroup.body.description]).toEqual([200, 2, false, null]);

    expect(await groupOf(web)).toEqual([webGroup.body.id, 'Web servers']);
    expect(await groupOf(both)).toEqual([webGroup.body.id, 'Web servers']);
    expect(await groupOf(plain)).toEqual([null, null]);
    // A tag the device reports about itself does not choose its group.
    expect(await groupOf(selfTagged)).toEqual([null, null]);
    expect(await shellAllowed(web)).toBe(true);
    expect(await shellAllowed(plain)).toBe(false);
    expect(await shellAllowed(selfTagged)).toBe(false);
    expect(await h.server.services.deviceGroups.allowsShell('f'.repeat(40))).toBe(false);

    // Databases above Web servers: the device carrying both moves, and loses shell.
    await h.call('PATCH', `/api/machinegroups/${webGroup.body.id}`, { body: { rank: 10 } });
    const moved = await h.call('PATCH', `/api/machinegroups/${dbGroup.body.id}`, { body: { Rank: 1, Comment: 'databases first' } });
    expect(moved.body).toMatchObject({ name: 'Databases', rank: 1 });
    expect(await groupOf(both)).toEqual([dbGroup.body.id, 'Databases']);
    expect(await shellAllowed(both)).toBe(false);
    expect(await shellAllowed(web)).toBe(true);

    // The list serves every machine's group, and the groups by rank.
    const list = (await h.call('GET', '/api/machines')).body.value as { id: string; rbacGroupName: string | null }[];
    expect(Object.fromEntries(list.map((m) => [m.id, m.rbacGroupName]))).toEqual({ [web]: 'Web servers', [both]: 'Databases', [plain]: null, [selfTagged]: null });
    expect((await h.call('GET', '/api/machinegroups', { token: h.tokens.analyst })).body.value.map((g: { name: string; rank: number }) => [g.name, g.rank])).toEqual([['Databases', 1], ['Web servers', 10]]);

    // Shell off for the group: off for its devices at the next session.
    const off = await h.call('PATCH', `/api/machinegroups/${webGroup.body.id}`, { body: { liveResponseShell: false } });
    expect(off.body).toMatchObject({ liveResponseShell: false, rank: 10, rule: { tag: 'WEB' } });
    expect(await shellAllowed(web)).toBe(false);

    // Deleted: its devices are ungrouped, unless another group matches them.
    expect((await h.call('DELETE', `/api/machinegroups/${webGroup.body.id}?comment=retired`)).status).toBe(204);
    expect(await groupOf(web)).toEqual([null, null]);
    expect(await groupOf(both)).toEqual([dbGroup.body.id, 'Databases']);
    expect((await h.call('GET', `/api/machinegroups/${webGroup.body.id}`)).status).toBe(404);

    const audit = (await h.server.services.audit.list(100, 0)).filter((a) => a.targetType === 'deviceGroup');
    expect(audit.map((a) => [a.action, a.targetId, a.actor, a.comment, a.outcome]).reverse()).toEqual([
      ['CreateDeviceGroup', String(webGroup.body.id), 'admin', 'shell for the web team', 'Succeeded'],
      ['CreateDeviceGroup', String(dbGroup.body.id), 'admin', null, 'Succeeded'],
      ['UpdateDeviceGroup', String(webGroup.body.id), 'admin', null, 'Succeeded'],
      ['UpdateDeviceGroup', String(dbGroup.body.id), 'admin', 'databases first', 'Succeeded'],
      ['UpdateDeviceGroup', String(webGroup.body.id), 'admin', null, 'Succeeded'],
      ['DeleteDeviceGroup', String(webGroup.body.id), 'admin', 'retired', 'Succeeded'],
    ]);
    expect(audit.find((a) => a.action === 'UpdateDeviceGroup' && a.comment === 'databases first')!.detail).toMatchObject({ before: { rank: 2 }, after: { rank: 1 } });
  });

  it('refuses duplicates, bad rules and unknown fields with a 400 that says why, changing nothing; 404 for a group that is not there', async () => {
    const first = await add({ name: 'Web', rule: { tag: 'web' }, rank: 3 });
    expect(first.status).toBe(200);
    const refused = async (res: Promise<{ status: number; body: any }>, code: string, message: string | RegExp) => {
      const r = await res;
      expect(r.status).toBe(400);
      expect(r.body.error.code).toBe(code);
      expect(r.body.error.message).toMatch(message);
    };
    await refused(add({ name: 'WEB', rule: { tag: 'other' } }), 'DeviceGroupAlreadyExists', 'Name: a device group named "Web" exists already (names are unique whatever their case); choose another name');
    await refused(add({ name: 'Other', rule: { tag: 'other' }, rank: 3 }), 'DeviceGroupRankTaken', 'Rank: rank 3 is held by the device group "Web"');
    await refused(add({ name: 'Other', rule: { tag: '  ' } }), 'InvalidRequestBody', 'rule.tag: must not be empty');
    await refused(add({ name: 'Other', rule: {} }), 'InvalidRequestBody', /^rule\.tag: /);
    await refused(add({ name: 'Other', rule: { tag: 'x', os: 'linux' } }), 'InvalidRequestBody', 'rule.os is not a known field here; remove it');
    await refused(add({ name: 'Other', rule: { tag: 'x' }, colour: 'red' }), 'InvalidRequestBody', 'colour is not a known field here; remove it');
    await refused(add({ name: '', rule: { tag: 'x' } }), 'InvalidRequestBody', 'name: must not be empty');
    await refused(add({ rule: { tag: 'x' } }), 'InvalidRequestBody', /^Name: /);
    await refused(add({ Name: 'Other', Rule: { Tag: 'x', Tag2: 'y' } }), 'InvalidRequestBody', 'Rule.tag2 is not a known field here; remove it');
    await refused(add({ name: 'Other', rule: { tag: 'x' }, rank: 0 }), 'InvalidRequestBody', 'rank: must be 1 (the highest priority) or more');
    await refused(add({ name: 'Other', rule: { tag: 'x' }, liveResponseShell: 'yes' }), 'InvalidRequestBody', /^liveResponseShell: /);

    const second = await add({ name: 'Db', rule: { tag: 'db' } });
    expect(second.body.rank).toBe(4);
    await refused(h.call('PATCH', `/api/machinegroups/${second.body.id}`, { body: { name: 'web' } }), 'DeviceGroupAlreadyExists', /^Name: /);
    await refused(h.call('PATCH', `/api/machinegroups/${second.body.id}`, { body: { rank: 3 } }), 'DeviceGroupRankTaken', /^Rank: /);
    await refused(h.call('PATCH', `/api/machinegroups/${second.body.id}`, { body: { rule: { tag: '' } } }), 'InvalidRequestBody', 'rule.tag: must not be empty');
    await refused(h.call('PATCH', `/api/machinegroups/${second.body.id}`, { body: { comment: 'just because' } }), 'InvalidRequestBody', 'Nothing to change: send one or more of Name, Description, Rank, Rule and LiveResponseShell');
    // Its own name (another case) and rank are its own to keep.
    expect((await h.call('PATCH', `/api/machinegroups/${second.body.id}`, { body: { name: 'DB', rank: 4 } })).body).toMatchObject({ name: 'DB', rank: 4 });

    expect((await h.call('PATCH', '/api/machinegroups/999', { body: { rank: 9 } })).status).toBe(404);
    expect((await h.call('DELETE', '/api/machinegroups/999')).status).toBe(404);
    expect((await h.call('GET', '/api/machinegroups/abc')).status).toBe(400);
    expect((await h.call('GET', '/api/machinegroups')).body.value.map((g: { name: string; rank: number; rule: { tag: string } }) => [g.name, g.rank, g.rule.tag])).toEqual([['Web', 3, 'web'], ['DB', 4, 'db']]);
    // Refusals are audited too, with who asked.
    expect((await h.server.services.audit.list(100, 0)).filter((a) => a.targetType === 'deviceGroup' && a.outcome === 'Refused').length).toBeGreaterThanOrEqual(10);
  });

  it('lets analysts read groups and only admins write them', async () => {
    const g = await add({ name: 'Web', rule: { tag: 'web' } });
    expect((await h.call('GET', '/api/machinegroups', { token: h.tokens.viewer })).status).toBe(403);
    expect((await h.call('GET', `/api/machinegroups/${g.body.id}`, { token: h.tokens.analyst })).status).toBe(200);
    expect((await add({ name: 'Db', rule: { tag: 'db' } }, h.tokens.responder)).status).toBe(403);
    expect((await h.call('PATCH', `/api/machinegroups/${g.body.id}`, { body: { liveResponseShell: true }, token: h.tokens.responder })).status).toBe(403);
    expect((await h.call('DELETE', `/api/machinegroups/${g.body.id}`, { token: h.tokens.responder })).status).toBe(403);
    expect((await h.call('GET', `/api/machinegroups/${g.body.id}`)).body.liveResponseShell).toBe(false);
  });
});
