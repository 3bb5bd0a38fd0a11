/**
 * A full disk, for real: the server runs with its data directory on a small tmpfs, mounted in a
 * mount namespace of its own (e2e/in-tmpfs.mjs; the host never sees the mount, and it vanishes
 * with the process). An enrolled device uploads a package until the disk gives out:
 *   - with the database on the same tmpfs, diskReserveBytes stops uploads (507) while there is
 *     still room, so tagging and every other database write keeps working;
 *   - with the package files on a tmpfs of their own and no reserve, the write itself hits ENOSPC:
 *     507 again, and the partly written chunk is cut back to the acknowledged end.
 * Either way nothing half-written is left.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, statSync, statfsSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { enroll } from '@cordon/agent';
import { cleanup, CordonProcess, freePort, ROOT, tempDir } from './helpers.js';

type EnrollmentState = Awaited<ReturnType<typeof enroll>>;

const MiB = 1024 * 1024;
const CHUNK = 4 * MiB;

let server: CordonProcess | undefined;
const dirs: string[] = [];
afterEach(async () => {
  await server?.kill('SIGKILL');
  server = undefined;
  cleanup(dirs.splice(0));
});

/** `cordon …` in a mount namespace of its own, with tmpfs file systems mounted at `mounts` first. */
class UnsharedProcess extends CordonProcess {
  constructor(mounts: { path: string; size: string }[], args: string[], env: Record<string, string>) {
    super(args, env, ['unshare', ['-m', '--propagation', 'private', '--', process.execPath, join(ROOT, 'e2e', 'in-tmpfs.mjs'), JSON.stringify(mounts), '--']]);
  }
}

/** A cordon server whose `mounts` (absolute paths) are tmpfs file systems only it sees. */
async function serverOnTmpfs(mounts: { path: string; size: string }[], dataDir: string, env: Record<string, string>) {
  const port = await freePort();
  const agentPort = await freePort();
  server = new UnsharedProcess(mounts, ['server', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn', ...env });
  const token = await server.line(/^admin token: (\S+)$/m);
  const pid = server.child.pid!;
  /** A path inside the server's mount namespace, as this process can reach it. */
  const inside = (path: string) => `/proc/${pid}/root${path}`;
  const api = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
    return { status: r.status, body: (await r.json().catch(() => null)) as any };
  };
  return { agentUrl: `https://127.0.0.1:${agentPort}`, api, inside };
}

/** Enrolls a device that can collect packages, and starts a package action for it. */
async function deviceWithPackageAction(s: Awaited<ReturnType<typeof serverOnTmpfs>>) {
  const agentDir = tempDir('disk-agent');
  dirs.push(agentDir);
  const { token } = (await s.api('POST', '/api/enrollmentTokens')).body as { token: string };
  const state = await enroll(s.agentUrl, token, agentDir, {
    hostname: 'full-disk-01',
    osPlatform: 'Linux',
    osVersion: 'Debian GNU/Linux 12',
    osProcessor: 'x64',
    kernel: '6.1.0',
    ipAddresses: [],
    agentVersion: '0.2.0',
    capabilities: [{ name: 'investigationPackage', version: '1' }],
    deviceTags: [],
  });
  const action = await s.api('POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { Comment: 'triage' });
  expect(action.status).toBe(201);
  return { state, actionId: action.body.id as string };
}

/** One chunk PUT as the agent sends it. */
function put(state: EnrollmentState, actionId: string, offset: number, chunk: Buffer): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL(`/agent/v1/uploads/${actionId}?offset=${offset}`, state.serverUrls[0]), {
      method: 'PUT',
      ca: state.caCertPem,
      checkServerIdentity: () => undefined,
      agent: false,
      headers: { authorization: `Bearer ${state.machineId}.${state.credential}`, 'content-type': 'application/octet-stream', 'content-length': String(chunk.length), 'x-chunk-sha256': createHash('sha256').update(chunk).digest('hex') },
    }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(parts).toString() || 'null') }));
    });
    req.on('error', reject);
    req.end(chunk);
  });
}

/** Sends 4 MiB chunks until the server stops acknowledging them; answers the acknowledged end and the refusal. */
async function uploadUntilRefused(state: EnrollmentState, actionId: string): Promise<{ acknowledged: number; refusal: { status: number; body: any } }> {
  let offset = 0;
  for (let i = 0; i < 40; i++) {
    const r = await put(state, actionId, offset, randomBytes(CHUNK));
    if (r.status !== 200) return { acknowledged: offset, refusal: r };
    offset = r.body.offset as number;
  }
  throw new Error('the disk never filled up');
}

describe('a full disk', () => {
  it('with the database on the same small disk: the reserve stops uploads (507) and database writes go on', async () => {
    const base = tempDir('disk-reserve');
    dirs.push(base);
    const dataDir = join(base, 'data');
    const s = await serverOnTmpfs([{ path: dataDir, size: '64m' }], dataDir, { CORDON_DISK_RESERVE_BYTES: String(24 * MiB) });
    const { state, actionId } = await deviceWithPackageAction(s);

    const { acknowledged, refusal } = await uploadUntilRefused(state, actionId);
    // (a) Refused for space, as "later", with the reason.
    expect(refusal.status).toBe(507);
    expect(refusal.body.error).toMatchObject({ code: 'InsufficientStorage', message: expect.stringMatching(/^The server's disk is nearly full: \d+ MiB free, and diskReserveBytes keeps 24 MiB free for the database; the agent will retry later$/) });
    expect(acknowledged).toBeGreaterThanOrEqual(6 * CHUNK);
    const fs = statfsSync(s.inside(dataDir));
    expect(fs.blocks * fs.bsize).toBe(64 * MiB); // the tmpfs, not the host's disk
    expect(statfsSync(dataDir).blocks * statfsSync(dataDir).bsize).not.toBe(64 * MiB); // which never sees it
    expect(fs.bavail * fs.bsize).toBeGreaterThanOrEqual(24 * MiB);

    // (b) The analyst can still act: tags (many of them) and a new action are stored.
    for (let i = 0; i < 20; i++) expect((await s.api('POST', `/api/machines/${state.machineId}/tags`, { Value: `disk-full-${i}`, Action: 'Add' })).status).toBe(200);
    expect((await s.api('GET', `/api/machines/${state.machineId}`)).body.machineTags).toContain('disk-full-19');
    expect((await s.api('POST', `/api/machineactions/${actionId}/cancel`, { Comment: 'disk full' })).status).toBe(200);

    // (c) Nothing half-written: the upload holds exactly the acknowledged chunks, and nothing else is there.
    const packages = s.inside(join(dataDir, 'files', 'packages'));
    expect(readdirSync(packages)).toEqual([`${actionId}.part`]);
    expect(statSync(join(packages, `${actionId}.part`)).size).toBe(acknowledged);
  });

  it('with the package files on a disk of their own and no reserve: a write that hits ENOSPC is cut back and answered 507', async () => {
    const base = tempDir('disk-enospc');
    dirs.push(base);
    const dataDir = join(base, 'data');
    const files = join(dataDir, 'files', 'packages');
    // 10 MiB: two 4 MiB chunks fit, the third is written in part when the disk runs out.
    const s = await serverOnTmpfs([{ path: dataDir, size: '64m' }, { path: files, size: '10m' }], dataDir, { CORDON_DISK_RESERVE_BYTES: '0' });
    const { state, actionId } = await deviceWithPackageAction(s);

    const { acknowledged, refusal } = await uploadUntilRefused(state, actionId);
    expect(refusal.status).toBe(507);
    expect(refusal.body.error).toEqual({ code: 'InsufficientStorage', message: 'The server has no space left for package files; the agent will retry later' });
    expect(acknowledged).toBe(2 * CHUNK);
    // Nothing half-written: the part of the third chunk that fitted was removed again.
    expect(readdirSync(s.inside(files))).toEqual([`${actionId}.part`]);
    expect(statSync(s.inside(join(files, `${actionId}.part`))).size).toBe(acknowledged);
    const fs = statfsSync(s.inside(files));
    expect(fs.bavail * fs.bsize).toBeGreaterThan(MiB);
    // The device asks where to resume: the acknowledged end. The database is untouched by it all.
    expect((await s.api('POST', `/api/machines/${state.machineId}/tags`, { Value: 'disk-full', Action: 'Add' })).status).toBe(200);
    expect((await s.api('GET', `/api/machineactions/${actionId}`)).body.status).toBe('Pending');
  });
});
