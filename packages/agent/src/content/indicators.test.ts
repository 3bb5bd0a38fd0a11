import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentSigner, generateSigningKey, type ContentManifest, type IndicatorEntry, type SignedManifest } from '@cordon/protocol';
import { IndicatorSet } from './indicators.js';
import { ContentStore, type ContentFetcher } from './store.js';
import { ContentSync } from './sync.js';

const keys = generateSigningKey();
const signer = new ContentSigner(keys.privateKeyPem);

const entry = (id: string, value: string, over: Partial<IndicatorEntry> = {}): IndicatorEntry => ({ id, value, type: 'IpAddress', action: 'Block', severity: 'High', title: `t${id}`, generateAlert: false, expirationTime: null, ...over });
const setOf = (indicators: unknown[]) => Buffer.from(JSON.stringify({ format: 'cordon-indicators/v1', indicators }));

/** The server, as far as the store sees it: serves the versions published, newest by default (or any one: a replay). */
class Server implements ContentFetcher {
  readonly versions: { signed: SignedManifest; bytes: Buffer }[] = [];
  serving: number | null = null;
  asked = 0;
  publish(bytes: Buffer): number {
    const version = this.versions.length + 1;
    this.versions.push({ signed: signer.publish('indicators', 'default', version, bytes, new Date('2026-11-25T10:00:00Z')), bytes });
    return version;
  }
  async manifest(): Promise<unknown> {
    this.asked++;
    return this.versions[(this.serving ?? this.versions.length) - 1]!.signed;
  }
  async *bytes(m: ContentManifest, offset: number): AsyncIterable<Uint8Array> {
    yield this.versions[m.version - 1]!.bytes.subarray(offset);
  }
}

let dir: string;
let server: Server;
let store: ContentStore;
let indicators: IndicatorSet;
let sync: ContentSync;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-indicators-'));
  server = new Server();
  store = new ContentStore(dir, keys.publicKeyPem, server);
  indicators = new IndicatorSet(store);
  sync = new ContentSync(store, indicators, pino({ level: 'silent' }));
});
afterEach(() => {
  sync.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('IndicatorSet', () => {
  it('holds the installed set, and active(now) drops what has expired, without asking the server', async () => {
    server.publish(setOf([entry('1', '10.1.2.3'), entry('2', '10.1.2.4', { expirationTime: '2026-11-25T11:00:00.000Z' })]));
    expect(indicators.version).toBeNull();
    expect(indicators.active()).toEqual([]);
    await sync.update('indicators', 'default');
    expect(indicators.version).toBe(1);
    expect(indicators.active(new Date('2026-11-25T10:59:59Z')).map((e) => e.value)).toEqual(['10.1.2.3', '10.1.2.4']);
    expect(indicators.active(new Date('2026-11-25T11:00:00Z')).map((e) => e.value)).toEqual(['10.1.2.3']);
    expect(indicators.all()).toHaveLength(2);
    expect(indicators.nextExpiry(new Date('2026-11-25T10:00:00Z'))).toEqual(new Date('2026-11-25T11:00:00Z'));
    expect(indicators.nextExpiry(new Date('2026-11-25T11:00:00Z'))).toBeNull();
    // A restarted agent has the same set at once, from disk.
    const again = new IndicatorSet(new ContentStore(dir, keys.publicKeyPem, server));
    expect(again.reload()).toBe(1);
    expect(again.all()).toEqual(indicators.all());
  });

  it('leaves out entries of a type or action it does not know, not the whole set', async () => {
    server.publish(setOf([entry('1', '10.1.2.3'), entry('2', 'abc', { type: 'CertificateThumbprint' }), entry('3', '10.1.2.5', { action: 'Explode' }), { id: 4 }]));
    await sync.update('indicators', 'default');
    expect(indicators.all().map((e) => e.id)).toEqual(['1']);
  });

  it('keeps the set in use when a signed version is not an indicator set, and tells listeners of each new version', async () => {
    let told = 0;
    indicators.onChange(() => told++);
    server.publish(setOf([entry('1', '10.1.2.3')]));
    await sync.update('indicators', 'default');
    server.publish(Buffer.from('{"format":"something else"}'));
    await sync.update('indicators', 'default');
    expect(indicators.all().map((e) => e.value)).toEqual(['10.1.2.3']);
    expect(told).toBe(1);
  });
});

describe('ContentSync', () => {
  it('fetches an announced version only when it is newer than the one installed', async () => {
    server.publish(setOf([entry('1', '10.1.2.3')]));
    await sync.announced('indicators', 'default', 1);
    expect([indicators.version, server.asked]).toEqual([1, 1]);
    await sync.announced('indicators', 'default', 1);
    await sync.announced('rulepack', 'other', 9);
    expect(server.asked).toBe(1);
    server.publish(setOf([entry('1', '10.1.2.3'), entry('2', '10.1.2.4')]));
    await sync.announced('indicators', 'default', 2);
    expect(indicators.active().map((e) => e.value)).toEqual(['10.1.2.3', '10.1.2.4']);
  });

  it('never goes back to an older version, even one the server signed (a replay)', async () => {
    server.publish(setOf([entry('1', '10.1.2.3')]));
    server.publish(setOf([entry('2', '10.1.2.4')]));
    await sync.update('indicators', 'default');
    server.serving = 1;
    expect(await sync.update('indicators', 'default')).toMatchObject({ status: 'refused', reason: 'NotNewer', kept: { version: 2 } });
    expect([indicators.version, indicators.all().map((e) => e.value)]).toEqual([2, ['10.1.2.4']]);
  });

  it('keeps what is installed when the server cannot be asked', async () => {
    server.publish(setOf([entry('1', '10.1.2.3')]));
    await sync.update('indicators', 'default');
    server.manifest = async () => {
      throw new Error('connect ECONNREFUSED');
    };
    expect(await sync.update('indicators', 'default')).toBeNull();
    expect(indicators.all()).toHaveLength(1);
  });
});
