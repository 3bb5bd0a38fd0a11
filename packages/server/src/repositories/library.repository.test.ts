import { afterEach, describe, expect, it } from 'vitest';
import { openTestStore, STORES } from '../testing/stores.js';
import { LibraryRepository, type NewLibraryFileRow } from './library.repository.js';

/** The library table and its queries, the same on SQLite and PostgreSQL. */
const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

const T1 = '2026-12-07T10:00:00.000Z';
const T2 = '2026-12-07T11:00:00.000Z';
const row = (fileName: string, over: Partial<NewLibraryFileRow> = {}): NewLibraryFileRow => ({
  file_name: fileName,
  description: null,
  has_parameters: 0,
  parameters_description: null,
  sha256: 'a'.repeat(64),
  size: 10,
  signed_by: null,
  content_name: `lib-${fileName.length}`,
  content_version: 1,
  created_by: 'alice',
  creation_time: T1,
  last_updated_by: 'alice',
  last_updated_time: T1,
  ...over,
});

describe.each(STORES)('library repository (%s)', (kind) => {
  async function repo(): Promise<LibraryRepository> {
    const s = await openTestStore(kind);
    closers.push(s.close);
    return new LibraryRepository(s.db);
  }

  it('lists files by name; a name is one row', async () => {
    const r = await repo();
    await r.put(row('zeta.sh'));
    await r.put(row('Alpha.py'));
    await r.put(row('beta.sh'));
    expect((await r.list()).map((x) => x.file_name)).toEqual(['Alpha.py', 'beta.sh', 'zeta.sh']);
    expect(await r.get('gamma.sh')).toBeUndefined();
  });

  it('replaces a file in place: new bytes and details, its creation kept; sizes past 2 GiB read back whole', async () => {
    const r = await repo();
    await r.put(row('collect.sh', { description: 'v1', has_parameters: 1, parameters_description: '<dir>' }));
    const big = 3 * 1024 ** 3;
    const replaced = await r.put(
      row('collect.sh', { description: 'v2', sha256: 'b'.repeat(64), size: big, signed_by: '0123456789abcdef', content_version: 2, created_by: 'bob', creation_time: T2, last_updated_by: 'bob', last_updated_time: T2 }),
    );
    expect({ ...replaced, size: Number(replaced.size), content_version: Number(replaced.content_version), has_parameters: Number(replaced.has_parameters) }).toEqual({
      ...row('collect.sh'),
      description: 'v2',
      has_parameters: 0,
      sha256: 'b'.repeat(64),
      size: big,
      signed_by: '0123456789abcdef',
      content_version: 2,
      created_by: 'alice',
      creation_time: T1,
      last_updated_by: 'bob',
      last_updated_time: T2,
    });
    expect(await r.list()).toHaveLength(1);
    expect(Number((await r.get('collect.sh'))!.size)).toBe(big);
  });

  it('removes a file, answering whether it was there', async () => {
    const r = await repo();
    await r.put(row('collect.sh'));
    expect(await r.remove('collect.sh')).toBe(true);
    expect(await r.remove('collect.sh')).toBe(false);
    expect(await r.list()).toEqual([]);
  });
});
