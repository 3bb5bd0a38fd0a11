import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Hex, verifyContent } from '@cordon/protocol';
import { StagedTooLargeError } from '../storage/content-files.js';
import { startHarness, type Harness } from '../testing/harness.js';

// Against a real store and real files: the versioning rests on the store's primary key and transaction.
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const contentDir = () => join(h.server.config.dataDir, 'files', 'content');

describe('ContentService', () => {
  it('gives concurrent publications distinct, consecutive versions, each file durable and its manifest signed', async () => {
    const content = h.server.services.content;
    const bodies = Array.from({ length: 8 }, (_, i) => Buffer.from(`rule pack ${i}\n`.repeat(i + 1)));
    const published = await Promise.all(bodies.map((b) => content.publish('rulepack', 'base', b, 'admin-user')));
    const versions = published.map((p) => p.manifest.version);
    expect([...versions].sort((a, b) => a - b)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    for (const [i, p] of published.entries()) {
      const bytes = readFileSync(join(contentDir(), 'rulepack', 'base', `v${p.manifest.version}.bin`));
      expect(bytes.equals(bodies[i]!)).toBe(true);
      expect(verifyContent(p.signed, bytes, h.server.keys.signingPublicKeyPem, { kind: 'rulepack', name: 'base' })).toMatchObject({ ok: true });
    }
    expect((await content.latest('rulepack', 'base'))?.manifest.version).toBe(8);
    // Versions count per kind + name.
    expect((await content.publish('indicators', 'base', Buffer.from('x'), 'admin-user')).manifest.version).toBe(1);
    expect(readdirSync(join(contentDir(), '.staging'))).toEqual([]);
    const audit = await h.server.services.audit.list(50, 0);
    expect(audit.filter((a) => a.action === 'PublishContent' && a.outcome === 'Succeeded')).toHaveLength(9);
    expect(audit.find((a) => a.targetId === 'rulepack/base')).toMatchObject({ actor: 'admin-user', targetType: 'content', detail: { version: 8 } });
  });

  it.each([
    ['a name with a path in it', 'rulepack', '../../etc', /not a content name/, 'name'],
    ['a name starting with a dot', 'rulepack', '.hidden', /not a content name/, 'name'],
    ['an empty name', 'rulepack', '', /not a content name/, 'name'],
    ['an unknown kind', 'binaries', 'base', /not a content kind; use one of indicators, rulepack, script/, 'kind'],
  ])('refuses %s with a clear error and writes nothing', async (_what, kind, name, message, target) => {
    const err = await h.server.services.content.publish(kind, name, Buffer.from('data'), 'admin-user').catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400, code: 'InvalidInput', target, message: expect.stringMatching(message) });
    expect(readdirSync(contentDir()).sort()).toEqual(['.staging']);
    expect(readdirSync(join(contentDir(), '.staging'))).toEqual([]);
    expect(existsSync(join(h.server.config.dataDir, 'files', 'etc'))).toBe(false);
    expect(await h.server.services.content.latest('rulepack', 'base')).toBeNull();
    expect((await h.server.services.audit.list(10, 0))[0]).toMatchObject({ action: 'PublishContent', outcome: 'Refused', actor: 'admin-user' });
  });

  it('answers no content for a name never published, and null bytes for a version that does not exist', async () => {
    const content = h.server.services.content;
    expect(await content.latest('script', 'collect')).toBeNull();
    await content.publish('script', 'collect', Buffer.from('echo hi'), 'admin-user');
    expect(await content.bytes('script', 'collect', 2)).toBeNull();
    expect((await content.bytes('script', 'collect', 1))?.size).toBe(7);
  });

  it('publishes from a stream: staged as it arrives (hashed on the way), then signed and placed as the next version', async () => {
    const content = h.server.services.content;
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(64 * 1024 + i, i));
    async function* source() {
      for (const c of chunks) yield c;
    }
    const staged = await content.stage(source(), 10 * 1024 * 1024);
    const whole = Buffer.concat(chunks);
    expect(staged).toMatchObject({ sha256: sha256Hex(whole), size: whole.length });
    expect((await content.stagedBytes(staged)).equals(whole)).toBe(true);
    const p = await content.publishStaged('script', 'collect', staged, 'admin-user', 'why');
    expect(p.manifest).toMatchObject({ kind: 'script', name: 'collect', version: 1, sha256: sha256Hex(whole), size: whole.length });
    const bytes = readFileSync(join(contentDir(), 'script', 'collect', 'v1.bin'));
    expect(verifyContent(p.signed, bytes, h.server.keys.signingPublicKeyPem, { kind: 'script', name: 'collect' })).toMatchObject({ ok: true });
    expect(readdirSync(join(contentDir(), '.staging'))).toEqual([]);
  });

  it('stops reading a stream past its limit and keeps nothing of it; a refused publication removes its staged file', async () => {
    const content = h.server.services.content;
    let pulled = 0;
    async function* endless() {
      for (;;) {
        pulled++;
        yield Buffer.alloc(1000);
      }
    }
    await expect(content.stage(endless(), 4500)).rejects.toBeInstanceOf(StagedTooLargeError);
    expect(pulled).toBe(5);
    expect(readdirSync(join(contentDir(), '.staging'))).toEqual([]);
    const staged = await content.stage((async function* () {
      yield Buffer.from('x');
    })(), 10);
    await expect(content.publishStaged('binaries', 'collect', staged, 'admin-user')).rejects.toMatchObject({ status: 400, target: 'kind' });
    expect(readdirSync(join(contentDir(), '.staging'))).toEqual([]);
  });
});
