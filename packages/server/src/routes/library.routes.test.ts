import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { openAsBlob, readdirSync, rmSync, truncateSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { libraryContentName, MAX_CONTENT_BYTES, publicKeyFingerprint, verifyContent } from '@cordon/protocol';
import type { ServerConfigInput } from '../config.js';
import { startHarness, type Harness } from '../testing/harness.js';

// The live-response library against a real server and store (SQLite, and PostgreSQL in the
// postgres project), uploaded as MDE clients do: multipart/form-data.
let h: Harness;
const dirs: string[] = [];
afterEach(async () => {
  await h?.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
const start = async (config: ServerConfigInput = {}) => {
  h = await startHarness(config);
};

type Part = string | { data: Buffer; filename: string };
/** A multipart/form-data body built by the platform's own FormData (as fetch sends it), parts in order. */
async function form(parts: [string, Part][]): Promise<{ payload: Buffer; contentType: string }> {
  const fd = new FormData();
  for (const [name, v] of parts) {
    if (typeof v === 'string') fd.append(name, v);
    else fd.append(name, new Blob([v.data]), v.filename);
  }
  const req = new Request('http://form.invalid/', { method: 'POST', body: fd });
  return { payload: Buffer.from(await req.arrayBuffer()), contentType: req.headers.get('content-type')! };
}

async function upload(parts: [string, Part][], token = h.tokens.admin) {
  const { payload, contentType } = await form(parts);
  const res = await h.server.app.inject({ method: 'POST', url: '/api/libraryfiles', headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, payload });
  return { status: res.statusCode, body: res.json() };
}

const SCRIPT = Buffer.from('#!/bin/sh\n# collect what the IR team asks for\nls -la "$1"\n');
const file = (data: Buffer = SCRIPT, filename = 'collect.sh'): [string, Part] => ['File', { data, filename }];
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const staging = () => readdirSync(join(h.server.config.dataDir, 'files', 'content', '.staging'));

/** The bytes devices get for a library file (verified against the server key), or null. */
async function delivered(fileName: string): Promise<{ version: number; bytes: Buffer } | null> {
  const name = libraryContentName(fileName);
  const latest = await h.server.services.content.latest('script', name);
  if (!latest) return null;
  const chunks: Buffer[] = [];
  for await (const c of (await h.server.services.content.bytes('script', name, latest.manifest.version))!.read(0)) chunks.push(c as Buffer);
  const bytes = Buffer.concat(chunks);
  expect(verifyContent(latest.signed, bytes, h.server.keys.signingPublicKeyPem, { kind: 'script', name })).toMatchObject({ ok: true });
  return { version: latest.manifest.version, bytes };
}

function ed25519(): { publicKey: KeyObject; privateKey: KeyObject; pem: string; der: string } {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return { publicKey, privateKey, pem: publicKey.export({ type: 'spki', format: 'pem' }).toString(), der: publicKey.export({ type: 'spki', format: 'der' }).toString('base64') };
}
const signature = (data: Buffer, key: KeyObject) => sign(null, data, key).toString('base64');

describe('live-response library', () => {
  it("uploads as MDE's own example does (lowercase file part), lists and gets it, audited, and publishes its bytes as signed content", async () => {
    await start();
    const r = await upload([
      ['file', { data: SCRIPT, filename: 'collect.sh' }],
      ['ParametersDescription', '<directory>'],
      ['HasParameters', 'true'],
      ['OverrideIfExists', 'false'],
      ['Description', 'lists a directory'],
      ['Comment', 'IR-42'],
    ]);
    expect(r.status).toBe(200);
    const contentName = libraryContentName('collect.sh');
    expect(contentName).toMatch(/^lib-[0-9a-f]{24}$/);
    const entry = {
      fileName: 'collect.sh',
      description: 'lists a directory',
      sha256: sha(SCRIPT),
      size: SCRIPT.length,
      creationTime: '2026-11-25T10:00:00.000Z',
      createdBy: 'admin',
      lastUpdatedTime: '2026-11-25T10:00:00.000Z',
      lastUpdatedBy: 'admin',
      hasParameters: true,
      parametersDescription: '<directory>',
      signedBy: null,
      contentName,
      contentVersion: 1,
    };
    expect(r.body).toEqual(entry);
    const list = await h.call('GET', '/api/libraryfiles', { token: h.tokens.analyst });
    expect(list.status).toBe(200);
    expect(list.body).toEqual({ '@odata.context': '/api/$metadata#LibraryFiles', value: [entry] });
    expect((await h.call('GET', '/api/v1.0/libraryfiles/collect.sh', { token: h.tokens.analyst })).body).toEqual(entry);
    expect(await delivered('collect.sh')).toEqual({ version: 1, bytes: SCRIPT });
    const audit = await h.server.services.audit.list(10, 0);
    expect(audit.find((a) => a.action === 'UploadLibraryFile')).toMatchObject({
      actor: 'admin',
      targetType: 'libraryFile',
      targetId: 'collect.sh',
      comment: 'IR-42',
      outcome: 'Succeeded',
      detail: { sha256: sha(SCRIPT), size: SCRIPT.length, previousSha256: null, signedBy: null, contentName, contentVersion: 1 },
    });
    expect(staging()).toEqual([]);
  });

  it('refuses a name that exists without OverrideIfExists (nothing changes); with it, the file is replaced as the next version, its creation kept', async () => {
    await start();
    expect((await upload([file(), ['Description', 'v1']])).status).toBe(200);
    const v2 = Buffer.from('#!/bin/sh\necho second\n');
    const refused = await upload([file(v2), ['Description', 'v2']]);
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'LibraryFileAlreadyExists', target: 'OverrideIfExists', message: 'A library file named collect.sh exists already; send OverrideIfExists=true to replace it' } } });
    expect((await upload([file(v2), ['OverrideIfExists', 'False']])).status).toBe(400);
    expect((await h.call('GET', '/api/libraryfiles/collect.sh')).body).toMatchObject({ description: 'v1', sha256: sha(SCRIPT), contentVersion: 1 });
    expect(await delivered('collect.sh')).toEqual({ version: 1, bytes: SCRIPT });
    expect(staging()).toEqual([]);
    expect((await h.server.services.audit.list(1, 0))[0]).toMatchObject({ action: 'UploadLibraryFile', outcome: 'Refused', targetType: 'libraryFile' });

    h.clock.advance(60_000);
    // PowerShell clients send True.
    const replaced = await upload([['OverrideIfExists', 'True'], file(v2), ['Description', 'v2'], ['Comment', 'fixed']], h.tokens.admin);
    expect(replaced.status).toBe(200);
    expect(replaced.body).toMatchObject({ description: 'v2', sha256: sha(v2), size: v2.length, contentVersion: 2, hasParameters: false, parametersDescription: null, creationTime: '2026-11-25T10:00:00.000Z', lastUpdatedTime: '2026-11-25T10:01:00.000Z' });
    expect(await delivered('collect.sh')).toEqual({ version: 2, bytes: v2 });
    expect((await h.server.services.audit.list(10, 0)).find((a) => a.action === 'UploadLibraryFile' && a.outcome === 'Succeeded')).toMatchObject({ comment: 'fixed', detail: { sha256: sha(v2), previousSha256: sha(SCRIPT), contentVersion: 2 } });
  });

  it.each<[string, [string, Part][], string, RegExp]>([
    ['a file name with a path', [file(SCRIPT, '../collect.sh')], 'File', /^File: the file name "\.\.\/collect\.sh" must be 1-128 letters, digits/],
    ['a file name starting with a dot', [file(SCRIPT, '.profile')], 'File', /not starting with '\.'/],
    ['a file name of 129 characters', [file(SCRIPT, `${'a'.repeat(126)}.sh`)], 'File', /must be 1-128/],
    ['a file name with a space', [file(SCRIPT, 'my script.sh')], 'File', /must be 1-128 letters/],
    ['an empty file', [file(Buffer.alloc(0))], 'File', /^File: the file is empty/],
    ['no file', [['Description', 'x']], 'File', /^File is required/],
    ['File as a text field', [['File', 'echo hi']], 'File', /^File must be a file part/],
    ['two files', [file(), file(SCRIPT, 'other.sh')], 'File', /^File is given twice/],
    ['an unknown field', [file(), ['Owner', 'me']], 'Owner', /^Owner is not a known field here; send File, Description, ParametersDescription, HasParameters, OverrideIfExists, Signature, Comment/],
    ['HasParameters that is not true or false', [file(), ['HasParameters', 'yes']], 'HasParameters', /^HasParameters must be true or false, not "yes"/],
    ['OverrideIfExists that is not true or false', [file(), ['OverrideIfExists', '1']], 'OverrideIfExists', /^OverrideIfExists must be true or false/],
    ['a Description too long', [file(), ['Description', 'd'.repeat(1001)]], 'Description', /^Description must be at most 1000 characters/],
    ['a ParametersDescription too long', [file(), ['ParametersDescription', 'p'.repeat(1001)]], 'ParametersDescription', /at most 1000/],
    ['a Comment too long', [file(), ['Comment', 'c'.repeat(4001)]], 'Comment', /at most 4000/],
    ['a Description given twice', [file(), ['Description', 'a'], ['Description', 'b']], 'Description', /^Description is given twice/],
    ['a Description with a NUL', [['Description', 'a\u0000b'], file()], 'Description', /NUL/],
    ['a Signature that is not base64 of 64 bytes', [file(), ['Signature', 'bm90IGEgc2lnbmF0dXJl']], 'Signature', /^Signature: must be the base64 of a 64-byte Ed25519 signature/],
  ])('refuses %s with a 400 naming the field, and keeps nothing', async (_what, parts, target, message) => {
    await start();
    const r = await upload(parts);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ target, message: expect.stringMatching(message) });
    expect((await h.call('GET', '/api/libraryfiles')).body.value).toEqual([]);
    expect(staging()).toEqual([]);
    expect(await h.server.services.content.latest('script', libraryContentName('collect.sh'))).toBeNull();
  });

  it('refuses a body that is not multipart/form-data, saying what to send', async () => {
    await start();
    const r = await h.call('POST', '/api/libraryfiles', { body: { File: 'echo hi' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toEqual({ code: 'InvalidRequestBody', target: 'body', message: 'Send the upload as multipart/form-data with the parts File, Description, ParametersDescription, HasParameters, OverrideIfExists, Signature, Comment (File required)' });
  });

  it('lets analysts and up read it, only admins change it; refusals are audited', async () => {
    await start();
    expect((await upload([file()], h.tokens.responder)).status).toBe(403);
    expect((await upload([file()])).status).toBe(200);
    expect((await h.call('GET', '/api/libraryfiles', { token: h.tokens.viewer })).status).toBe(403);
    expect((await h.call('GET', '/api/libraryfiles/collect.sh', { token: h.tokens.viewer })).status).toBe(403);
    for (const role of ['analyst', 'responder'] as const) expect((await h.call('GET', '/api/libraryfiles', { token: h.tokens[role] })).body.value).toHaveLength(1);
    expect((await h.call('DELETE', '/api/libraryfiles/collect.sh', { token: h.tokens.responder })).status).toBe(403);
    const audit = await h.server.services.audit.list(20, 0);
    expect(audit.filter((a) => a.outcome === 'Refused').map((a) => [a.actor, a.action])).toEqual([
      ['responder-user', 'DeleteLibraryFile'],
      ['viewer-user', 'GET /api/libraryfiles/:fileName'],
      ['viewer-user', 'GET /api/libraryfiles'],
      ['responder-user', 'UploadLibraryFile'],
    ]);
    expect(staging()).toEqual([]);
  });

  it('deletes a file (204, audited with the comment); a name that is not there is 404', async () => {
    await start();
    await upload([file()]);
    const r = await h.call('DELETE', '/api/libraryfiles/collect.sh?comment=retired');
    expect(r.status).toBe(204);
    expect((await h.server.services.audit.list(1, 0))[0]).toMatchObject({ action: 'DeleteLibraryFile', targetType: 'libraryFile', targetId: 'collect.sh', comment: 'retired', outcome: 'Succeeded', detail: { sha256: sha(SCRIPT), size: SCRIPT.length, contentVersion: 1 } });
    expect((await h.call('GET', '/api/libraryfiles')).body.value).toEqual([]);
    for (const method of ['GET', 'DELETE'] as const) {
      const gone = await h.call(method, '/api/libraryfiles/collect.sh');
      expect(gone.status).toBe(404);
      expect(gone.body.error).toMatchObject({ code: 'ResourceNotFound', message: 'Library file collect.sh was not found' });
    }
    // Uploaded again, it is the next version of the same content: devices never go back.
    expect((await upload([file()])).body).toMatchObject({ contentVersion: 2, createdBy: 'admin' });
  });

  describe('signatures', () => {
    it('when required, takes only a file signed by a trusted key (PEM or base64 DER), and records which', async () => {
      const a = ed25519();
      const b = ed25519();
      const stranger = ed25519();
      await start({ libraryRequireSignature: true, libraryTrustedKeys: [a.pem, b.der] });
      const unsigned = await upload([file()]);
      expect(unsigned).toMatchObject({ status: 400, body: { error: { code: 'InvalidSignature', target: 'Signature', message: expect.stringMatching(/^Signature: this server takes only library files signed by a trusted key \(libraryRequireSignature\)/) } } });
      const byStranger = await upload([file(), ['Signature', signature(SCRIPT, stranger.privateKey)]]);
      expect(byStranger.body.error).toMatchObject({ code: 'InvalidSignature', message: `Signature: does not verify against the file with any trusted key (${publicKeyFingerprint(a.publicKey)}, ${publicKeyFingerprint(b.publicKey)}); sign the exact bytes uploaded` });
      // A signature of other bytes (the file changed after signing).
      const ofOther = await upload([file(), ['Signature', signature(Buffer.from('echo other\n'), a.privateKey)]]);
      expect(ofOther.body.error?.code).toBe('InvalidSignature');
      expect((await h.call('GET', '/api/libraryfiles')).body.value).toEqual([]);
      expect(staging()).toEqual([]);

      // The signature may come before the file, as any field.
      const good = await upload([['Signature', `${signature(SCRIPT, b.privateKey)}\n`], file()]);
      expect(good.status).toBe(200);
      expect(good.body.signedBy).toBe(publicKeyFingerprint(b.publicKey));
      expect(good.body.signedBy).toMatch(/^[0-9a-f]{16}$/);
      expect((await h.server.services.audit.list(10, 0)).find((x) => x.action === 'UploadLibraryFile' && x.outcome === 'Succeeded')?.detail).toMatchObject({ signedBy: publicKeyFingerprint(b.publicKey) });
      const byA = await upload([file(SCRIPT, 'other.sh'), ['Signature', signature(SCRIPT, a.privateKey)]]);
      expect(byA.body.signedBy).toBe(publicKeyFingerprint(a.publicKey));
    });

    it('when not required, takes an unsigned file but still refuses a signature that does not verify', async () => {
      const a = ed25519();
      await start({ libraryTrustedKeys: [a.pem] });
      expect((await upload([file()])).body.signedBy).toBeNull();
      const bad = await upload([file(SCRIPT, 'other.sh'), ['Signature', signature(SCRIPT, ed25519().privateKey)]]);
      expect(bad).toMatchObject({ status: 400, body: { error: { code: 'InvalidSignature' } } });
      expect((await upload([file(SCRIPT, 'other.sh'), ['Signature', signature(SCRIPT, a.privateKey)]])).body.signedBy).toBe(publicKeyFingerprint(a.publicKey));
    });

    it('refuses a signature when no key is trusted, saying so', async () => {
      await start();
      const r = await upload([file(), ['Signature', signature(SCRIPT, ed25519().privateKey)]]);
      expect(r.body.error).toMatchObject({ code: 'InvalidSignature', message: expect.stringMatching(/trusts no signing key \(libraryTrustedKeys is empty\)/) });
    });
  });

  describe('size', () => {
    it('takes a file of exactly the limit and refuses one byte more (413), keeping nothing', async () => {
      await start({ libraryMaxFileBytes: 4096 });
      const over = await upload([file(Buffer.alloc(4097, 0x61)), ['Description', 'too big']]);
      expect(over.status).toBe(413);
      expect(over.body.error).toEqual({ code: 'LibraryFileTooLarge', target: 'File', message: 'File: a library file may be at most 4096 bytes (libraryMaxFileBytes); nothing was kept' });
      expect(staging()).toEqual([]);
      expect((await h.call('GET', '/api/libraryfiles')).body.value).toEqual([]);
      expect((await upload([file(Buffer.alloc(4096, 0x61))])).body).toMatchObject({ size: 4096 });
    });

    it('over real HTTP, answers 413 to a file far over the limit without storing it, and streams one under it', async () => {
      await start({ libraryMaxFileBytes: 8 * 1024 * 1024 });
      const { apiUrl } = await h.server.listen();
      const dir = mkdtempSync(join(tmpdir(), 'cordon-library-'));
      dirs.push(dir);
      const post = async (path: string, name: string) => {
        const fd = new FormData();
        fd.append('File', await openAsBlob(path), name);
        const res = await fetch(`${apiUrl}/api/libraryfiles`, { method: 'POST', headers: { authorization: `Bearer ${h.tokens.admin}` }, body: fd });
        return { status: res.status, body: (await res.json()) as { error?: { code: string }; size?: number; sha256?: string } };
      };
      // Sparse: 64 MiB that cost no disk to make.
      const big = join(dir, 'big.bin');
      writeFileSync(big, '');
      truncateSync(big, 64 * 1024 * 1024);
      expect(await post(big, 'big.bin')).toMatchObject({ status: 413, body: { error: { code: 'LibraryFileTooLarge' } } });
      expect(staging()).toEqual([]);
      const ok = join(dir, 'ok.bin');
      writeFileSync(ok, '');
      truncateSync(ok, 8 * 1024 * 1024);
      expect(await post(ok, 'ok.bin')).toMatchObject({ status: 200, body: { size: 8 * 1024 * 1024, sha256: sha(Buffer.alloc(8 * 1024 * 1024)) } });
    });

    it('allows at most the largest content agents take, which is the default', async () => {
      await start();
      expect(h.server.config.libraryMaxFileBytes).toBe(MAX_CONTENT_BYTES);
      expect(MAX_CONTENT_BYTES).toBe(512 * 1024 * 1024);
    });
  });
});
