import { mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { zipOf } from '../testing/zip.js';
import { FileStore } from './file-store.js';

const ID = '11111111-2222-4333-8444-555555555555';
let dir: string;
let store: FileStore;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-files-'));
  store = new FileStore(dir);
  await store.init();
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const real = await zipOf(200_000);
/** The same zip with its central directory overwritten (the end record, which locates it, intact). */
const cdSize = real.readUInt32LE(real.length - 22 + 12);
const damaged = Buffer.concat([real.subarray(0, real.length - 22 - cdSize), Buffer.alloc(cdSize, 0xee), real.subarray(real.length - 22)]);
const NO_END = /End of central directory record signature not found/;

describe('FileStore', () => {
  it.each([
    ['a zip written by yazl (as the agent writes packages)', real, null],
    ['random bytes', randomBytes(300_000), NO_END],
    ['an empty file', Buffer.alloc(0), NO_END],
    ['a zip cut short (its end record lost)', real.subarray(0, real.length - 30), NO_END],
    ['a zip whose central directory is damaged', damaged, /invalid central directory file header signature: 0xeeeeeeee/],
    ['local headers only ("PK\\x03\\x04" and then anything)', Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(4096, 7)]), NO_END],
  ])('checks that %s is a zip by reading its central directory', async (_what, content, refused) => {
    writeFileSync(join(dir, `${ID}.part`), content);
    const check = await store.checkZip(ID, 'part');
    if (refused) expect(check).toMatchObject({ zip: false, reason: expect.stringMatching(refused) });
    else expect(check).toEqual({ zip: true, entries: 1 });
  });

  it('tells the free space of the file system holding the files', async () => {
    const st = statfsSync(dir);
    const free = await store.freeBytes();
    // Other processes write meanwhile: the same order of magnitude is enough.
    expect(Math.abs(free - st.bavail * st.bsize)).toBeLessThan(256 * 1024 * 1024);
    expect(free).toBeGreaterThan(0);
  });
});
