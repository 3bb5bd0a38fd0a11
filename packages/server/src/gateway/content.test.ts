/**
 * Signed content over the real gateway and TLS: the server publishes, the agent's ContentStore
 * fetches through its real HTTPS fetcher (pinned CA, device credential), verifies and installs;
 * a cut download resumes with Range; the device credential, the path and the range are checked.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createServer, connect, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore, enroll, HttpContentFetcher, type ContentFetcher } from '@cordon/agent';
import { CONTENT_PATH, type ContentManifest } from '@cordon/protocol';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let agentPort: number;
let dirs: string[];
let proxy: Server | undefined;
beforeEach(async () => {
  h = await startHarness();
  agentPort = (await h.server.listen()).agentPort;
  dirs = [];
});
afterEach(async () => {
  proxy?.close();
  proxy = undefined;
  await h.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function agent() {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-content-'));
  dirs.push(dir);
  const { token } = await h.server.services.enrollment.createToken('test');
  const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory());
  return { dir, state };
}

type State = Awaited<ReturnType<typeof agent>>['state'];

/** One GET to the gateway as `auth` (a device credential, or none). */
function get(path: string, auth: string | null, state: State, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(path, `https://127.0.0.1:${agentPort}`), { ca: state.caCertPem, checkServerIdentity: () => undefined, agent: false, headers: { ...(auth ? { authorization: auth } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}
const bearer = (s: State) => `Bearer ${s.machineId}.${s.credential}`;

describe('content over the gateway', () => {
  it('publishes two versions; the agent installs v2 through the real fetcher and verifies it', async () => {
    const { dir, state } = await agent();
    const v1 = Buffer.from('rule one\n');
    const v2 = randomBytes(300 * 1024);
    const content = h.server.services.content;
    expect((await content.publish('rulepack', 'base', v1, 'admin-user')).manifest.version).toBe(1);
    expect((await content.publish('rulepack', 'base', v2, 'admin-user')).manifest.version).toBe(2);
    const store = new ContentStore(dir, state.signingPublicKeyPem, new HttpContentFetcher(state));
    expect(await store.update('rulepack', 'base')).toMatchObject({ status: 'installed', manifest: { version: 2, size: v2.length }, resumedFrom: 0 });
    const loaded = store.load('rulepack', 'base');
    expect(loaded?.manifest.version).toBe(2);
    expect(loaded?.bytes.equals(v2)).toBe(true);
    expect(await store.update('rulepack', 'base')).toMatchObject({ status: 'current' });
  });

  it('resumes a download cut mid-way with Range and completes it', async () => {
    const { dir, state } = await agent();
    const data = randomBytes(1024 * 1024 + 777);
    await h.server.services.content.publish('indicators', 'hashes', data, 'admin-user');
    const real = new HttpContentFetcher(state);
    const offsets: number[] = [];
    const cutAfter = 200_000;
    // The first download dies after cutAfter bytes, as a dropped connection would end it.
    let cut = true;
    const fetcher: ContentFetcher = {
      manifest: (kind, name) => real.manifest(kind, name),
      async *bytes(m: ContentManifest, offset: number) {
        offsets.push(offset);
        let sent = 0;
        for await (const chunk of real.bytes(m, offset)) {
          if (cut && sent + chunk.length > cutAfter) {
            yield chunk.subarray(0, cutAfter - sent);
            cut = false;
            throw new Error('connection reset');
          }
          sent += chunk.length;
          yield chunk;
        }
      },
    };
    const store = new ContentStore(dir, state.signingPublicKeyPem, fetcher);
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'interrupted', received: cutAfter, detail: 'connection reset' });
    expect(await store.update('indicators', 'hashes')).toMatchObject({ status: 'installed', resumedFrom: cutAfter, manifest: { version: 1 } });
    expect(offsets).toEqual([0, cutAfter]);
    expect(store.load('indicators', 'hashes')?.bytes.equals(data)).toBe(true);
  });

  it('resumes after the connection itself is cut (a proxy drops it mid-body)', async () => {
    const { dir, state } = await agent();
    const data = randomBytes(2 * 1024 * 1024);
    await h.server.services.content.publish('script', 'collect', data, 'admin-user');
    let n = 0;
    proxy = createServer((client) => {
      const id = ++n;
      const upstream = connect(agentPort, '127.0.0.1');
      let received = 0;
      client.pipe(upstream);
      upstream.on('data', (d: Buffer) => {
        received += d.length;
        // The second connection (the bytes; the first is the manifest) is cut part-way through.
        if (id === 2 && received > 512 * 1024) {
          client.destroy();
          upstream.destroy();
          return;
        }
        client.write(d);
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', () => r()));
    const port = (proxy.address() as { port: number }).port;
    const store = new ContentStore(dir, state.signingPublicKeyPem, new HttpContentFetcher({ ...state, serverUrls: [`https://127.0.0.1:${port}`] }));
    const first = await store.update('script', 'collect');
    expect(first.status).toBe('interrupted');
    const got = (first as { received: number }).received;
    expect(got).toBeGreaterThan(0);
    expect(got).toBeLessThan(data.length);
    expect(await store.update('script', 'collect')).toMatchObject({ status: 'installed', resumedFrom: got });
    expect(store.load('script', 'collect')?.bytes.equals(data)).toBe(true);
  });

  it('answers 401 without the device credential or with another device\'s, before anything else', async () => {
    const a = (await agent()).state;
    const b = (await agent()).state;
    await h.server.services.content.publish('rulepack', 'base', Buffer.from('x'), 'admin-user');
    const path = `${CONTENT_PATH}/rulepack/base/manifest`;
    expect((await get(path, bearer(a), a)).status).toBe(200);
    expect((await get(path, null, a)).status).toBe(401);
    expect((await get(path, `Bearer ${a.machineId}.${b.credential}`, a)).status).toBe(401);
    expect((await get(`${CONTENT_PATH}/rulepack/base/v1`, `Bearer ${b.machineId}.${a.credential}`, a)).status).toBe(401);
    // Even a path that does not exist says nothing to a caller without a credential.
    expect((await get(`${CONTENT_PATH}/rulepack/nothing/manifest`, null, a)).status).toBe(401);
  });

  it('answers 404 for an unknown name or version, and for a bad kind or name without reaching the store', async () => {
    const { state } = await agent();
    await h.server.services.content.publish('rulepack', 'base', Buffer.from('x'), 'admin-user');
    const auth = bearer(state);
    expect((await get(`${CONTENT_PATH}/rulepack/unknown/manifest`, auth, state)).status).toBe(404);
    expect((await get(`${CONTENT_PATH}/rulepack/base/v2`, auth, state)).status).toBe(404);
    expect((await get(`${CONTENT_PATH}/rulepack/unknown/v1`, auth, state)).status).toBe(404);
    const content = h.server.services.content;
    let reached = 0;
    const latest = content.latest.bind(content);
    const bytes = content.bytes.bind(content);
    content.latest = async (...args) => (reached++, latest(...args));
    content.bytes = async (...args) => (reached++, bytes(...args));
    for (const path of ['binaries/base/manifest', 'rulepack/..%2F..%2Fcordon.db/manifest', 'rulepack/.hidden/v1', 'rulepack/base/v0x1', 'rulepack/base%2F..%2Fbase/manifest', '..%2Fpackages/x/v1', 'rulepack/base/v1/extra', `rulepack/${'a'.repeat(65)}/manifest`]) {
      expect({ path, status: (await get(`${CONTENT_PATH}/${path}`, auth, state)).status }).toEqual({ path, status: 404 });
    }
    expect(reached).toBe(0);
  });

  it('honours Range: 206 from an offset, 416 for a start past the end', async () => {
    const { state } = await agent();
    const data = randomBytes(5000);
    await h.server.services.content.publish('rulepack', 'base', data, 'admin-user');
    const auth = bearer(state);
    const path = `${CONTENT_PATH}/rulepack/base/v1`;
    const whole = await get(path, auth, state);
    expect(whole.status).toBe(200);
    expect(whole.body.equals(data)).toBe(true);
    const part = await get(path, auth, state, { range: 'bytes=1234-' });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 1234-4999/5000');
    expect(part.body.equals(data.subarray(1234))).toBe(true);
    const past = await get(path, auth, state, { range: 'bytes=5000-' });
    expect(past.status).toBe(416);
    expect(past.headers['content-range']).toBe('bytes */5000');
    expect((await get(path, auth, state, { range: 'bytes=99999-' })).status).toBe(416);
  });
});
