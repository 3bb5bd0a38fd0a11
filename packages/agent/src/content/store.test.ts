import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentSigner, generateSigningKey, type ContentKind, type ContentManifest, type SignedManifest } from '@cordon/protocol';
import { ContentStore, type ContentFetcher } from './store.js';

const keys = generateSigningKey();
const signer = new ContentSigner(keys.privateKeyPem);
const NOW = new Date('2026-11-25T10:00:00Z');
const bundle = (version: number, size = 200_000) => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + version) % 256));

/** Serves one signed manifest and its bytes in 16 KiB pieces; can cut the connection after some bytes. */
class FakeFetcher implements ContentFetcher {
  offsets: number[] = [];
  cutAfter: number | null = null;
  constructor(
    public signed: SignedManifest,
    public data: Buffer,
  ) {}
  async manifest(_kind: ContentKind, _name: string): Promise<unknown> {
    return this.signed;
  }
  async *bytes(_m: ContentManifest, offset: number): AsyncIterable<Uint8Array> {
    this.offsets.push(offset);
    let sent = 0;
    for (let at = offset; at < this.data.length; at += 16384) {
      const piece = this.data.subarray(at, Math.min(at + 16384, this.data.length));
      if (this.cutAfter !== null && sent + piece.length > this.cutAfter) throw new Error('connection reset');
      sent += piece.length;
      yield piece;
    }
  }
  serve(signed: SignedManifest, data: Buffer): this {
    this.signed = signed;
    this.data = data;
    return this;
  }
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-content-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function install(version: number) {
  const data = bundle(version);
  const fetcher = new FakeFetcher(signer.publish('indicators', 'hashes', version, data, NOW), data);
  return { fetcher, store: new ContentStore(dir, keys.publicKeyPem, fetcher), data };
}

describe('ContentStore', () => {
  it('installs a verified bundle and serves it after a restart; the same version again is current', async () => {
    const { fetcher, store, data } = install(1);
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'installed', manifest: { version: 1 }, resumedFrom: 0 });
    const again = new ContentStore(dir, keys.publicKeyPem, fetcher);
    expect(again.load('indicators', 'hashes')?.bytes.equals(data)).toBe(true);
    expect(await again.update('indicators', 'hashes')).toMatchObject({ status: 'current' });
    expect(fetcher.offsets).toEqual([0]);
  });

  it('refuses a tampered bundle (changed byte, changed manifest, wrong key) and keeps serving the last good one', async () => {
    const { fetcher, store, data } = install(1);
    await store.update('indicators', 'hashes');
    const v2 = bundle(2);
    const good = signer.publish('indicators', 'hashes', 2, v2, NOW);
    const flipped = Buffer.from(v2);
    flipped[123_456]! ^= 0x40;
    const cases: [string, SignedManifest, Buffer, string][] = [
      ['changed byte', good, flipped, 'DigestMismatch'],
      ['changed manifest', { ...good, manifest: good.manifest.replace(/"sha256":"[0-9a-f]+"/, `"sha256":"${'0'.repeat(64)}"`) }, v2, 'BadSignature'],
      ['wrong key', new ContentSigner(generateSigningKey().privateKeyPem).publish('indicators', 'hashes', 2, v2, NOW), v2, 'BadSignature'],
      ['other content', signer.publish('script', 'hashes', 2, v2, NOW), v2, 'WrongContent'],
      ['not a manifest', { nope: true } as unknown as SignedManifest, v2, 'Malformed'],
    ];
    for (const [label, signed, bytes, reason] of cases) {
      fetcher.serve(signed, bytes);
      expect(await store.update('indicators', 'hashes'), label).toMatchObject({ status: 'refused', reason, kept: { version: 1 } });
      expect(store.load('indicators', 'hashes')?.bytes.equals(data), label).toBe(true);
      // Bad bytes are not kept around to be resumed.
      expect(readdirSync(join(dir, 'content', 'indicators', 'hashes')).sort(), label).toEqual(['current.json', 'v1.bin']);
    }
    // Bytes that stop short are not installed: the store waits for the rest.
    fetcher.serve(good, v2.subarray(0, v2.length - 1));
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'interrupted', received: v2.length - 1 });
    expect(store.load('indicators', 'hashes')?.bytes.equals(data)).toBe(true);
    // The genuine v2 still installs after all that.
    fetcher.serve(good, v2);
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'installed', manifest: { version: 2 }, resumedFrom: v2.length - 1 });
    expect(store.load('indicators', 'hashes')?.bytes.equals(v2)).toBe(true);
    expect(readdirSync(join(dir, 'content', 'indicators', 'hashes')).sort()).toEqual(['current.json', 'v2.bin']);
  });

  it("refuses genuine content its kind's check cannot use (rules that do not compile here) and keeps the last good one", async () => {
    const { fetcher, data } = install(1);
    const checked: number[] = [];
    const store = new ContentStore(dir, keys.publicKeyPem, fetcher, { indicators: (bytes) => (checked.push(bytes.length), bytes[0] === 0xff ? 'this agent cannot use it' : null) });
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'installed' });
    const v2 = Buffer.concat([Buffer.from([0xff]), bundle(2)]);
    fetcher.serve(signer.publish('indicators', 'hashes', 2, v2, NOW), v2);
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'refused', reason: 'Unusable', detail: 'this agent cannot use it', kept: { version: 1 } });
    expect(store.load('indicators', 'hashes')?.bytes.equals(data)).toBe(true);
    expect(readdirSync(join(dir, 'content', 'indicators', 'hashes')).sort()).toEqual(['current.json', 'v1.bin']);
    expect(checked).toEqual([data.length, v2.length]);
  });

  it('resumes a cut download from where it stopped, and verifies the whole', async () => {
    const { fetcher, store, data } = install(1);
    fetcher.cutAfter = 70_000;
    const cut = await store.update('indicators', 'hashes');
    expect(cut).toMatchObject({ status: 'interrupted', received: 65_536, detail: 'connection reset' });
    expect(store.load('indicators', 'hashes')).toBeNull();
    // After a restart, too: the partial file is where the next attempt starts.
    fetcher.cutAfter = null;
    const resumed = await new ContentStore(dir, keys.publicKeyPem, fetcher).update('indicators', 'hashes');
    expect(resumed).toMatchObject({ status: 'installed', resumedFrom: 65_536 });
    expect(fetcher.offsets).toEqual([0, 65_536]);
    expect(store.load('indicators', 'hashes')?.bytes.equals(data)).toBe(true);
  });

  it('starts over when resumed bytes do not add up to the signed digest', async () => {
    const { fetcher, store, data } = install(1);
    // The first source served wrong bytes, then was cut.
    fetcher.data = Buffer.alloc(data.length, 7);
    fetcher.cutAfter = 50_000;
    await store.update('indicators', 'hashes');
    fetcher.data = data;
    fetcher.cutAfter = null;
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'refused', reason: 'DigestMismatch' });
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'installed', resumedFrom: 0 });
    expect(fetcher.offsets).toEqual([0, 49_152, 0]);
  });

  it('refuses a lower version (and another bundle under the version in use)', async () => {
    const { fetcher, store } = install(5);
    await store.update('indicators', 'hashes');
    const v4 = bundle(4);
    fetcher.serve(signer.publish('indicators', 'hashes', 4, v4, NOW), v4);
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'refused', reason: 'NotNewer', kept: { version: 5 } });
    fetcher.serve(signer.publish('indicators', 'hashes', 5, v4, NOW), v4);
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'refused', reason: 'NotNewer' });
    expect(fetcher.offsets).toEqual([0]);
    expect(store.load('indicators', 'hashes')?.manifest.version).toBe(5);
  });

  it('stops serving installed content that was altered on disk', async () => {
    const { store } = install(1);
    await store.update('indicators', 'hashes');
    writeFileSync(join(dir, 'content', 'indicators', 'hashes', 'v1.bin'), 'altered');
    expect(store.load('indicators', 'hashes')).toBeNull();
    expect(() => store.load('indicators', '../escape')).toThrow(/not a content name/);
  });

  it('answers the verified file of the content in use (hashed as a stream), and null once it is altered or absent', async () => {
    const { store, data } = install(1);
    expect(await store.verifiedFile('indicators', 'hashes')).toBeNull();
    await store.update('indicators', 'hashes');
    const file = await store.verifiedFile('indicators', 'hashes');
    expect(file).toMatchObject({ manifest: { version: 1, size: data.length }, path: join(dir, 'content', 'indicators', 'hashes', 'v1.bin') });
    const altered = Buffer.from(data);
    altered[1000] = altered[1000]! ^ 1;
    writeFileSync(file!.path, altered);
    expect(await store.verifiedFile('indicators', 'hashes')).toBeNull();
    await expect(store.verifiedFile('indicators', '../escape')).rejects.toThrow(/not a content name/);
  });
});
