import { createHash } from 'node:crypto';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { enroll } from '@cordon/agent';
import type { ServerConfigInput } from '../config.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';
import { zipOf } from '../testing/zip.js';

let h: Harness;
let agentPort: number;
const dirs: string[] = [];
beforeEach(async () => {
  h = await startHarness();
  agentPort = (await h.server.listen()).agentPort;
});
afterEach(async () => {
  await h.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** A real enrolled device (credential and pinned CA) that can call the gateway's upload API. */
async function device(hostname = 'web-01') {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-pkg-agent-'));
  dirs.push(dir);
  const { token } = await h.server.services.enrollment.createToken('test');
  const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ hostname, agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
  const call = (method: string, path: string, body?: Buffer | string, headers: Record<string, string> = {}) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const req = request(`https://127.0.0.1:${agentPort}${path}`, { method, ca: state.caCertPem, checkServerIdentity: () => undefined, headers: { authorization: `Bearer ${state.machineId}.${state.credential}`, ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString() || 'null') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const put = (actionId: string, offset: number, chunk: Buffer, hash = sha(chunk)) => call('PUT', `/agent/v1/uploads/${actionId}?offset=${offset}`, chunk, { 'x-chunk-sha256': hash, 'content-type': 'application/octet-stream' });
  const complete = (actionId: string, size: number, hash: string) => call('POST', `/agent/v1/uploads/${actionId}/complete`, JSON.stringify({ size, sha256: hash }), { 'content-type': 'application/json' });
  return { id: state.machineId, call, put, complete };
}

async function collect(machineId: string): Promise<string> {
  const r = await h.call('POST', `/api/machines/${machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } });
  expect(r.status).toBe(201);
  return r.body.id as string;
}

/** The harness again, with other settings. */
async function restart(config: ServerConfigInput): Promise<void> {
  await h.close();
  h = await startHarness(config);
  agentPort = (await h.server.listen()).agentPort;
}

const packageFiles = () => readdirSync(join(h.server.config.dataDir, 'files', 'packages'));

const zip = await zipOf(3 * 1024 * 1024 + 17);
const parts = [zip.subarray(0, 1024 * 1024), zip.subarray(1024 * 1024, 2 * 1024 * 1024), zip.subarray(2 * 1024 * 1024)];

describe('investigation package uploads', () => {
  it('resumes from the acknowledged offset, refuses corrupted chunks, verifies the whole file, and serves it through a short-lived URL', async () => {
    const d = await device();
    const actionId = await collect(d.id);
    expect((await d.call('GET', `/agent/v1/uploads/${actionId}`)).body).toEqual({ offset: 0, complete: false });
    expect((await d.put(actionId, 0, parts[0]!)).body).toEqual({ offset: 1048576 });
    // A chunk damaged in transit is refused and nothing is written.
    const damaged = Buffer.from(parts[1]!);
    damaged[10] = damaged[10]! ^ 0xff;
    const bad = await d.put(actionId, 1048576, damaged, sha(parts[1]!));
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('ChunkHashMismatch');
    // The connection dropped: the agent asks where to resume, and a stale offset is told the right one.
    expect((await d.call('GET', `/agent/v1/uploads/${actionId}`)).body).toEqual({ offset: 1048576, complete: false });
    const stale = await d.put(actionId, 0, parts[0]!);
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'WrongOffset', target: '1048576' });
    expect((await d.put(actionId, 1048576, parts[1]!)).body).toEqual({ offset: 2097152 });
    expect((await d.put(actionId, 2097152, parts[2]!)).body).toEqual({ offset: zip.length });
    const done = await d.complete(actionId, zip.length, sha(zip));
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ actionId, machineId: d.id, size: zip.length, sha256: sha(zip), available: true });
    // Completing again (a retry after a lost answer) gives the same answer; more chunks are refused.
    expect((await d.complete(actionId, zip.length, sha(zip))).status).toBe(200);
    const extra = await d.put(actionId, zip.length, parts[0]!);
    expect(extra.status).toBe(409);
    expect(extra.body.error.code).toBe('PackageComplete');

    // Packages hold sensitive data: viewers may not fetch them; every link handed out is audited.
    expect((await h.call('GET', `/api/machineactions/${actionId}/GetPackageUri`, { token: h.tokens.viewer })).status).toBe(403);
    const uri = await h.call('GET', `/api/machineactions/${actionId}/GetPackageUri`, { token: h.tokens.analyst, headers: { host: 'evil.example' } });
    expect(uri.status).toBe(200);
    // Links are built from the server's public URL, never from the Host header a client sends.
    expect(new URL(uri.body.value).host).not.toBe('evil.example');
    const audit = (await h.call('GET', '/api/audit')).body.value as { actor: string; action: string; targetId: string }[];
    expect(audit.find((a) => a.action === 'GetPackageUri')).toMatchObject({ actor: 'analyst-user', targetId: actionId });
    const url = new URL(uri.body.value);
    expect(url.pathname).toBe(`/api/packages/${actionId}/download`);
    const got = await h.server.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
    expect(got.statusCode).toBe(200);
    expect(got.headers['content-type']).toBe('application/zip');
    expect(got.headers['content-disposition']).toMatch(/^attachment; filename="web-01-\d{8}T\d{6}Z-investigation-package\.zip"$/);
    expect(sha(got.rawPayload)).toBe(sha(zip));
    const tl = await h.call('GET', `/api/machines/${d.id}/timeline?eventType=PackageAvailable`);
    expect(tl.body.value).toHaveLength(1);
    const list = await h.call('GET', `/api/machines/${d.id}/packages`);
    expect(list.body.value).toEqual([expect.objectContaining({ actionId, size: zip.length, available: true })]);

    // Altered or expired links answer 401.
    const tampered = `${url.pathname}?expires=${Number(url.searchParams.get('expires')) + 3600}&signature=${url.searchParams.get('signature')}`;
    expect((await h.server.app.inject({ method: 'GET', url: tampered })).statusCode).toBe(401);
    h.clock.advance(901_000);
    const expired = await h.server.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.message).toMatch(/expired/);
  });

  it('names the download after the device and when the package was completed (UTC), whatever the device calls itself', async () => {
    const d = await device('../x"; y');
    const actionId = await collect(d.id);
    h.clock.t = Date.parse('2026-11-25T10:02:03.456Z');
    for (const [i, p] of parts.entries()) expect((await d.put(actionId, i * 1048576, p)).status).toBe(200);
    expect((await d.complete(actionId, zip.length, sha(zip))).status).toBe(200);
    h.clock.advance(3600_000); // the link is asked for later: the name keeps the completion time
    const url = new URL((await h.call('GET', `/api/machineactions/${actionId}/GetPackageUri`)).body.value);
    const got = await h.server.app.inject({ method: 'GET', url: `${url.pathname}${url.search}` });
    expect(got.statusCode).toBe(200);
    // No path, quote or separator of the host name reaches the header.
    expect(got.headers['content-disposition']).toBe('attachment; filename="x_y-20261125T100203Z-investigation-package.zip"');
  });

  it('discards an upload whose whole-file hash does not match, so the agent starts again', async () => {
    const d = await device();
    const actionId = await collect(d.id);
    await d.put(actionId, 0, parts[0]!);
    const r = await d.complete(actionId, parts[0]!.length, sha(zip));
    expect(r.status).toBe(400);
    expect(r.body.error.code).toBe('PackageHashMismatch');
    expect((await d.call('GET', `/agent/v1/uploads/${actionId}`)).body).toEqual({ offset: 0, complete: false });
    expect((await h.call('GET', `/api/machineactions/${actionId}/GetPackageUri`)).status).toBe(404);
  });

  it('refuses a package over maxPackageBytes (413), deletes what it had and fails the action saying why', async () => {
    await restart({ maxPackageBytes: 2 * 1024 * 1024 });
    const d = await device();
    const actionId = await collect(d.id);
    expect((await d.put(actionId, 0, parts[0]!)).status).toBe(200);
    // The chunk would take the package past the cap: refused from its declared length, before it is read.
    const over = await d.put(actionId, parts[0]!.length, randomBytes(1536 * 1024));
    expect(over.status).toBe(413);
    expect(over.body.error).toMatchObject({ code: 'PackageTooLarge', message: 'The package is larger than this server accepts (maxPackageBytes: 2097152 bytes); it was refused and deleted' });
    const action = (await h.call('GET', `/api/machineactions/${actionId}`)).body;
    expect(action).toMatchObject({ status: 'Failed', error: 'The package is larger than this server accepts (maxPackageBytes: 2097152 bytes); it was refused and deleted' });
    expect(packageFiles()).toEqual([]);
    expect((await d.call('GET', `/agent/v1/uploads/${actionId}`)).body.error.code).toBe('ActionNotActive');
    // A completion that declares more than the cap is refused too.
    const second = await collect(d.id);
    const declared = await d.complete(second, 3 * 1024 * 1024, 'b'.repeat(64));
    expect(declared.status).toBe(413);
    expect(declared.body.error.code).toBe('PackageTooLarge');
    expect((await h.call('GET', `/api/machineactions/${second}`)).body.status).toBe('Failed');
  });

  it('refuses a file that is not a zip when it completes, deletes it, and fails the action rather than offer a broken download', async () => {
    const d = await device();
    const actionId = await collect(d.id);
    const junk = randomBytes(1536 * 1024);
    expect((await d.put(actionId, 0, junk)).status).toBe(200);
    const done = await d.complete(actionId, junk.length, sha(junk));
    expect(done.status).toBe(400);
    expect(done.body.error).toMatchObject({ code: 'PackageNotZip', message: expect.stringMatching(/^The package is not a zip \(.+\); it was refused and deleted$/) });
    const action = (await h.call('GET', `/api/machineactions/${actionId}`)).body;
    expect(action.status).toBe('Failed');
    expect(action.error).toMatch(/^The package is not a zip \(.+\); it was refused and deleted$/);
    expect(packageFiles()).toEqual([]);
    expect((await h.call('GET', `/api/machineactions/${actionId}/GetPackageUri`)).status).toBe(404);
    expect((await h.call('GET', `/api/machines/${d.id}/packages`)).body.value).toEqual([]);
    // The agent's own report of the failure comes later and changes nothing.
    await h.server.services.agentReports.agentResult(d.id, actionId, 'Failed', 'The server did not accept the package', null);
    expect((await h.call('GET', `/api/machineactions/${actionId}`)).body.error).toBe(action.error);
  });

  it('keeps diskReserveBytes free: uploads answer 507 with nothing written, while the database keeps working', async () => {
    // A reserve larger than any disk: the file system is "below the reserve" whatever its size.
    await restart({ diskReserveBytes: 2 ** 50 });
    const d = await device();
    const actionId = await collect(d.id);
    const full = await d.put(actionId, 0, parts[0]!);
    expect(full.status).toBe(507);
    expect(full.body.error).toMatchObject({ code: 'InsufficientStorage', message: expect.stringMatching(/^The server's disk is nearly full: \d+ MiB free, and diskReserveBytes keeps 1073741824 MiB free for the database; the agent will retry later$/) });
    expect(packageFiles()).toEqual([]);
    expect((await d.call('GET', `/agent/v1/uploads/${actionId}`)).body).toEqual({ offset: 0, complete: false });
    // Retry later, not a failure: the action still runs. The analyst can still act.
    expect((await h.call('GET', `/api/machineactions/${actionId}`)).body.status).toBe('Pending');
    expect((await h.call('POST', `/api/machines/${d.id}/tags`, { body: { Value: 'disk-full', Action: 'Add' } })).status).toBe(200);
  });

  it("keeps devices to their own uploads and authenticates every call", async () => {
    const a = await device('a');
    const b = await device('b');
    const actionId = await collect(a.id);
    expect((await b.put(actionId, 0, parts[0]!)).status).toBe(404);
    expect((await b.call('GET', `/agent/v1/uploads/${actionId}`)).status).toBe(404);
    const anonymous = await a.call('GET', `/agent/v1/uploads/${actionId}`, undefined, { authorization: 'Bearer nope' });
    expect(anonymous.status).toBe(401);
    // Only package actions take uploads, and only while they run.
    const refresh = await h.call('POST', `/api/machines/${a.id}/refreshInventory`, { body: { Comment: 'x' } });
    expect(refresh.status).toBe(400); // this device does not report 'inventory'
    await h.call('POST', `/api/machineactions/${actionId}/cancel`, { body: { Comment: 'not needed' } });
    const late = await a.put(actionId, 0, parts[0]!);
    expect(late.status).toBe(409);
    expect(late.body.error.code).toBe('ActionNotActive');
    expect((await h.call('GET', `/api/machineactions/${actionId}/GetPackageUri`, { token: null })).status).toBe(401);
    // An oversized chunk is refused before it is read (413, or a reset if the client is still sending).
    const b2 = await device('c');
    const other = await collect(b2.id);
    const big = await b2.put(other, 0, Buffer.alloc(9 * 1024 * 1024)).catch((e: NodeJS.ErrnoException) => ({ status: e.code, body: null }));
    expect([413, 'ECONNRESET', 'EPIPE']).toContain(big.status);
    expect((await b2.call('GET', `/agent/v1/uploads/${other}`)).body).toEqual({ offset: 0, complete: false });
  });

  it('writes a chunk once when a retry races its first try', async () => {
    const d = await device();
    const actionId = await collect(d.id);
    const [a, b] = await Promise.all([d.put(actionId, 0, parts[0]!), d.put(actionId, 0, parts[0]!)]);
    expect([a.status, b.status].sort()).toEqual([200, 409]);
    expect((await d.call('GET', `/agent/v1/uploads/${actionId}`)).body).toEqual({ offset: parts[0]!.length, complete: false });
  });

  it('removes the unfinished upload of an action that ended', async () => {
    const d = await device();
    const actionId = await collect(d.id);
    await d.put(actionId, 0, parts[0]!);
    const part = join(h.server.config.dataDir, 'files', 'packages', `${actionId}.part`);
    expect(existsSync(part)).toBe(true);
    await h.server.services.agentReports.agentResult(d.id, actionId, 'Failed', 'collection failed', null);
    h.clock.advance(2 * 3600_000);
    // The file's time comes from the real clock; set it on the test's clock, two hours back.
    const old = new Date(h.clock.now().getTime() - 2 * 3600_000);
    utimesSync(part, old, old);
    expect(await h.server.services.packages.sweepExpired()).toBe(1);
    expect(existsSync(part)).toBe(false);
  });

  it('removes package files when their retention ends, and keeps the record', async () => {
    const d = await device();
    const actionId = await collect(d.id);
    await d.put(actionId, 0, zip);
    expect((await d.complete(actionId, zip.length, sha(zip))).status).toBe(200);
    h.clock.advance(29 * 86400_000);
    expect(await h.server.services.packages.sweepExpired()).toBe(0);
    h.clock.advance(2 * 86400_000);
    expect(await h.server.services.packages.sweepExpired()).toBe(1);
    const r = await h.call('GET', `/api/machineactions/${actionId}/GetPackageUri`);
    expect(r.status).toBe(404);
    expect(r.body.error.message).toMatch(/retention/);
    expect((await h.call('GET', `/api/machines/${d.id}/packages`)).body.value[0]).toMatchObject({ actionId, available: false });
  });
});
