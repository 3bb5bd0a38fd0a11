import { afterEach, describe, expect, it } from 'vitest';
import { openTestStore, STORES } from '../testing/stores.js';
import { DeviceGroupsRepository, DeviceGroupTakenError, type NewDeviceGroupRow } from './device-groups.repository.js';

/** The device-groups table and its queries, the same on SQLite and PostgreSQL. */
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const T1 = '2026-12-08T10:00:00.000Z';
const T2 = '2026-12-08T11:00:00.000Z';
const row = (name: string, rank: number, over: Partial<NewDeviceGroupRow> = {}): NewDeviceGroupRow => ({
  name,
  name_key: name.toLowerCase(),
  description: null,
  rank,
  rule: JSON.stringify({ tag: name.toLowerCase() }),
  live_response_shell: 0,
  created_by: 'alice',
  created_at: T1,
  updated_by: 'alice',
  updated_at: T1,
  ...over,
});

describe.each(STORES)('device groups repository (%s)', (kind) => {
  async function repo(): Promise<DeviceGroupsRepository> {
    const s = await openTestStore(kind);
    closers.push(s.close);
    return new DeviceGroupsRepository(s.db);
  }

  it('lists groups by rank, answers the last rank, and finds what holds a name (any case) or a rank', async () => {
    const r = await repo();
    expect(await r.lastRank()).toBe(0);
    const web = await r.insert(row('Web', 3, { live_response_shell: 1, description: 'front ends' }));
    await r.insert(row('Db', 1));
    await r.insert(row('Lab', 2));
    expect((await r.ranked()).map((g) => [g.name, Number(g.rank)])).toEqual([['Db', 1], ['Lab', 2], ['Web', 3]]);
    expect(await r.lastRank()).toBe(3);
    expect({ ...(await r.get(Number(web.id)))!, id: Number(web.id), rank: Number(web.rank), live_response_shell: Number(web.live_response_shell) }).toEqual({ ...row('Web', 3, { live_response_shell: 1, description: 'front ends' }), id: Number(web.id) });
    expect(await r.get(9999)).toBeUndefined();
    expect((await r.holding({ nameKey: 'web' })).map((g) => g.name)).toEqual(['Web']);
    expect((await r.holding({ nameKey: 'nope', rank: 2 })).map((g) => g.name)).toEqual(['Lab']);
    expect((await r.holding({ nameKey: 'db', rank: 2 })).map((g) => g.name).sort()).toEqual(['Db', 'Lab']);
    expect(await r.holding({})).toEqual([]);
  });

  it('refuses a second group with the same name in another case, or the same rank', async () => {
    const r = await repo();
    await r.insert(row('Web', 1));
    const sameName = await r.insert(row('WEB', 2)).catch((e: unknown) => e);
    expect(sameName).toBeInstanceOf(DeviceGroupTakenError);
    const sameRank = await r.insert(row('Db', 1)).catch((e: unknown) => e);
    expect(sameRank).toBeInstanceOf(DeviceGroupTakenError);
    const g = await r.insert(row('Db', 2));
    expect(await r.update(Number(g.id), { rank: 1, updated_by: 'bob', updated_at: T2 }).catch((e: unknown) => e)).toBeInstanceOf(DeviceGroupTakenError);
    expect((await r.ranked()).map((x) => [x.name, Number(x.rank)])).toEqual([['Web', 1], ['Db', 2]]);
  });

  it('updates the fields given, keeping who created it, and removes a group answering what it was', async () => {
    const r = await repo();
    const g = await r.insert(row('Web', 1));
    const changed = await r.update(Number(g.id), { name: 'Front', name_key: 'front', rank: 5, live_response_shell: 1, updated_by: 'bob', updated_at: T2 });
    expect(changed).toMatchObject({ name: 'Front', created_by: 'alice', created_at: T1, updated_by: 'bob', updated_at: T2 });
    expect([Number(changed!.rank), Number(changed!.live_response_shell)]).toEqual([5, 1]);
    expect(await r.update(9999, { updated_by: 'bob', updated_at: T2 })).toBeUndefined();
    expect((await r.remove(Number(g.id)))?.name).toBe('Front');
    expect(await r.remove(Number(g.id))).toBeUndefined();
    expect(await r.ranked()).toEqual([]);
  });
});
