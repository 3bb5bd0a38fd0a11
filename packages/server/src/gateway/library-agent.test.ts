/**
 * Live-response library files reach a real agent's content store over the real gateway and TLS:
 * uploaded through the API as MDE clients do (multipart over HTTP), fetched by the agent's real
 * HTTPS fetcher, verified (server signature, bytes, and the exact version and SHA-256 the command
 * names) and handed over as a file, byte for byte. Tampered bytes, a manifest not signed by the
 * server, a file replaced since the command, and an unsigned upload where signing is required
 * never reach a usable path.
 */
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ContentStore, enroll, fetchLibraryFile, HttpContentFetcher, LibraryFileError, type ContentFetcher } from '@cordon/agent';
import { ContentSigner, generateSigningKey, libraryContentName, type LibraryFileRef } from '@cordon/protocol';
import type { ServerConfigInput } from '../config.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness | undefined;
let apiUrl: string;
let agentUrl: string;
const dirs: string[] = [];
afterEach(async () => {
  await h?.close();
  h = undefined;
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

async function start(config: ServerConfigInput = {}): Promise<Harness> {
  h = await startHarness(config);
  ({ apiUrl, agentUrl } = await h.server.listen());
  return h;
}

/** An enrolled device's content store, fetching through the real HTTPS fetcher (or `wrap` of it). */
async function deviceStore(wrap: (real: ContentFetcher) => ContentFetcher = (real) => real): Promise<ContentStore> {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-library-agent-'));
  dirs.push(dir);
  const { token } = await h!.server.services.enrollment.createToken('test');
  const state = await enroll(agentUrl, token, dir, inventory({ hostname: 'responder-target' }));
  return new ContentStore(dir, state.signingPublicKeyPem, wrap(new HttpContentFetcher(state)));
}

interface Entry {
  fileName: string;
  contentName: string;
  contentVersion: number;
  sha256: string;
}
/** POST /api/libraryfiles over HTTP, multipart, as MDE clients send it. */
async function upload(name: string, data: Buffer, fields: Record<string, string> = {}): Promise<{ status: number; body: Entry & { error?: { code: string; message: string } } }> {
  const fd = new FormData();
  fd.append('File', new Blob([data]), name);
  for (const [k, v] of Object.entries(fields)) fd.append(k, v);
  const res = await fetch(`${apiUrl}/api/libraryfiles`, { method: 'POST', headers: { authorization: `Bearer ${h!.tokens.admin}` }, body: fd });
  return { status: res.status, body: (await res.json()) as Entry & { error?: { code: string; message: string } } };
}
const refOf = (e: Entry): LibraryFileRef => ({ fileName: e.fileName, contentName: e.contentName, version: e.contentVersion, sha256: e.sha256 });
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('library files on a real agent', () => {
  it('an uploaded file reaches the agent byte for byte; a replaced one only under its new version', async () => {
    await start();
    const tool = Buffer.concat([Buffer.from('#!/bin/sh\n'), randomBytes(3 * 1024 * 1024 + 17)]);
    const v1 = await upload('collect.sh', tool, { Description: 'collector' });
    expect(v1.status).toBe(200);
    const store = await deviceStore();
    const path = await fetchLibraryFile(store, refOf(v1.body));
    expect(readFileSync(path).equals(tool)).toBe(true);
    // Asked again, nothing is downloaded again and the same verified file answers.
    expect(await fetchLibraryFile(store, refOf(v1.body))).toBe(path);

    const newer = Buffer.from('#!/bin/sh\necho v2\n');
    const v2 = await upload('collect.sh', newer, { OverrideIfExists: 'true' });
    expect(v2.body.contentVersion).toBe(2);
    // A command given before the change names the old version: refused, never run as the new one.
    const stale = await fetchLibraryFile(store, refOf(v1.body)).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(LibraryFileError);
    expect((stale as Error).message).toBe(`collect.sh changed in the library: the server has version 2 (SHA-256 ${sha(newer)}), the command names version 1 (SHA-256 ${sha(tool)})`);
    expect(readFileSync(await fetchLibraryFile(store, refOf(v2.body))).equals(newer)).toBe(true);
  });

  it('refuses bytes tampered with on the server, and a manifest the server did not sign', async () => {
    const harness = await start();
    const script = Buffer.from('#!/bin/sh\necho "collect"\n');
    const { body } = await upload('collect.sh', script);
    // Someone with the server's disk swaps the bytes (same size): the signed manifest gives them away.
    const onDisk = join(harness.server.config.dataDir, 'files', 'content', 'script', body.contentName, 'v1.bin');
    writeFileSync(onDisk, Buffer.from('#!/bin/sh\nrm -rf "/tmp/x"\n'));
    const tampered = await fetchLibraryFile(await deviceStore(), refOf(body)).catch((e: unknown) => e);
    expect(tampered).toBeInstanceOf(LibraryFileError);
    expect((tampered as Error).message).toMatch(/^Refused collect\.sh from the server \(DigestMismatch\): The content's SHA-256 is [0-9a-f]{64}; its manifest says/);
    writeFileSync(onDisk, script);

    // Something between agent and server answers with a manifest (and bytes) signed by another key.
    const rogue = new ContentSigner(generateSigningKey().privateKeyPem);
    const evil = Buffer.from('#!/bin/sh\necho pwned\n');
    const store = await deviceStore(() => ({
      manifest: async () => rogue.publish('script', body.contentName, 1, evil, new Date()),
      bytes: async function* () {
        yield evil;
      },
    }));
    const unsigned = await fetchLibraryFile(store, { ...refOf(body), sha256: sha(evil) }).catch((e: unknown) => e);
    expect((unsigned as Error).message).toMatch(/^Refused collect\.sh from the server \(BadSignature\)/);
    // The genuine file still arrives through the real fetcher.
    expect(readFileSync(await fetchLibraryFile(await deviceStore(), refOf(body))).equals(script)).toBe(true);
  });

  it('where signing is required, an unsigned upload never becomes content; a signed one reaches the agent', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ed25519');
    await start({ libraryRequireSignature: true, libraryTrustedKeys: [publicKey.export({ type: 'spki', format: 'pem' }).toString()] });
    const script = Buffer.from('#!/bin/sh\nuname -a\n');
    const refused = await upload('whoami.sh', script);
    expect(refused).toMatchObject({ status: 400, body: { error: { code: 'InvalidSignature' } } });
    const store = await deviceStore();
    const ref = { fileName: 'whoami.sh', contentName: libraryContentName('whoami.sh'), version: 1, sha256: sha(script) };
    await expect(fetchLibraryFile(store, ref)).rejects.toThrow("whoami.sh is not in the server's library");

    const signed = await upload('whoami.sh', script, { Signature: sign(null, script, privateKey).toString('base64') });
    expect(signed.status).toBe(200);
    expect(readFileSync(await fetchLibraryFile(store, refOf(signed.body))).equals(script)).toBe(true);
  });

  it('refuses a reference that does not name its own content', async () => {
    await start();
    const { body } = await upload('collect.sh', Buffer.from('echo hi\n'));
    await expect(fetchLibraryFile(await deviceStore(), { ...refOf(body), fileName: 'other.sh' })).rejects.toThrow(`${body.contentName} is not the content that carries other.sh`);
    await expect(fetchLibraryFile(await deviceStore(), { ...refOf(body), fileName: '../x' })).rejects.toThrow(/^Not a library file reference: fileName must be 1-128/);
  });
});
