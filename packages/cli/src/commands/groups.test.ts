import { startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';

describe('cordon groups (against a real server)', () => {
  let h: Harness;
  let conn: string[];
  beforeAll(async () => {
    h = await startHarness();
    const { apiUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.admin];
  });
  afterAll(async () => {
    await h.close();
  });

  const cordon = (...args: string[]) => runCordon([...args, ...conn], { quiet: true });

  it('adds, lists, changes and removes groups; a device shows its group', async () => {
    const id = await h.enroll({ hostname: 'web-01' });
    await h.call('POST', `/api/machines/${id}/tags`, { body: { Value: 'web', Action: 'Add' } });
    expect(await cordon('machine', 'web-01')).toMatch(/│ group\s*│ Ungrouped devices/);

    const web = JSON.parse(await cordon('groups', 'add', 'Web servers', '--tag', 'WEB', '--shell', '--description', 'front ends', '--comment', 'IR-9', '--json'));
    expect(web).toMatchObject({ name: 'Web servers', rank: 1, rule: { tag: 'WEB' }, liveResponseShell: true, description: 'front ends' });
    expect((await h.server.services.audit.list(5, 0)).find((a) => a.action === 'CreateDeviceGroup')).toMatchObject({ comment: 'IR-9', actor: 'admin' });
    expect(await cordon('groups', 'add', 'Databases', '--tag', 'db', '--rank', '5')).toMatch(/│ 5\s*│ \d+\s*│ Databases\s*│ tag:db\s*│ off/);
    expect(await cordon('machine', 'web-01')).toMatch(/│ group\s*│ Web servers/);

    expect(await cordon('groups')).toMatch(/Web servers[\s\S]*Databases/);
    const changed = JSON.parse(await cordon('groups', 'set', 'web servers', '--rank', '9', '--shell', 'off', '--description', '', '--json'));
    expect(changed).toMatchObject({ id: web.id, rank: 9, liveResponseShell: false, description: null, rule: { tag: 'WEB' } });
    expect(JSON.parse(await cordon('groups', 'list', '--json')).map((g: { name: string }) => g.name)).toEqual(['Databases', 'Web servers']);

    await expect(cordon('groups', 'add', 'databases', '--tag', 'x')).rejects.toThrow('Name: a device group named "Databases" exists already');
    await expect(cordon('groups', 'set', 'Databases', '--rank', '9')).rejects.toThrow(/^Rank: rank 9 is held by the device group "Web servers"/);
    await expect(cordon('groups', 'set', 'Databases', '--shell', 'yes')).rejects.toThrow("--shell takes on or off, not 'yes'");
    await expect(cordon('groups', 'set', 'Databases')).rejects.toThrow('nothing to change');
    await expect(cordon('groups', 'add', 'Lab', '--tag', 'lab', '--rank', '0')).rejects.toThrow('--rank takes a whole number from 1');
    await expect(cordon('groups', 'remove', 'Nope')).rejects.toThrow("no device group named 'Nope'");

    expect(await cordon('groups', 'remove', String(web.id), '--comment', 'retired')).toBe(`deleted device group Web servers (id ${web.id})\n`);
    expect(await cordon('machine', 'web-01')).toMatch(/│ group\s*│ Ungrouped devices/);
  });

  it('refuses a role without the permission', async () => {
    await expect(runCordon(['groups', 'add', 'X', '--tag', 'x', '--server', conn[1]!, '--token', h.tokens.responder], { quiet: true })).rejects.toThrow('The responder role does not have the groups.write permission');
    expect(JSON.parse(await runCordon(['groups', '--json', '--server', conn[1]!, '--token', h.tokens.analyst], { quiet: true }))).toEqual(expect.any(Array));
  });
});
