/**
 * The agent's uploader against the real gateway over TLS, through a TCP proxy that cuts the
 * connection in the middle of chunks: the upload resumes from the acknowledged offset and the
 * server ends up with exactly the bytes sent.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { request } from 'node:https';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { enroll, PackageUploader } from '@cordon/agent';
import { InsufficientStorageError } from '../errors.js';
import { countAdmissions } from '../testing/admissions.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';
import { tcpProxy } from '../testing/proxy.js';
import { zipOf } from '../testing/zip.js';

let h: Harness;
let agentPort: number;
let dir: string;
let proxy: { close(): void } | undefined;
beforeEach(async () => {
  h = await startHarness();
  agentPort = (await h.server.listen()).agentPort;
  dir = mkdtempSync(join(tmpdir(), 'cordon-upload-'));
});
afterEach(async () => {
  proxy?.close();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Forwards to the gateway; the connections numbered in `cut` are dropped after `after` bytes upstream. */
async function cuttingProxy(cut: Set<number>, after: number): Promise<{ port: number; cuts: () => number }> {
  const p = await tcpProxy({ target: () => agentPort, cutAfter: (n) => (cut.has(n) ? after : null) });
  proxy = p;
  return p;
}

/** Numbered devices that send packages (`device(n)` enrolls one), and a package collection submitted to one. */
async function packageDevices() {
  const { token } = await h.server.services.enrollment.createToken('test');
  return {
    device: (n: number) => enroll(`https://127.0.0.1:${agentPort}`, token, join(dir, String(n)), inventory({ hostname: `d${n}`, agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] })),
    submit: async (machineId: string) => (await h.call('POST', `/api/machines/${machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } })).body.id as string,
  };
}

describe('PackageUploader', () => {
  it('finishes an upload interrupted twice mid-chunk, with the right SHA-256, from a stream', async () => {
    const { token } = await h.server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
    const action = await h.call('POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } });
    // An upload keeps two connections, its chunks taking turns on them: each is cut 1.5 MiB in
    // (half-way through its second chunk, the 3rd or the 4th of the upload).
    const p = await cuttingProxy(new Set([1, 2]), 1536 * 1024);
    const data = await zipOf(5 * 1024 * 1024 + 12345);
    const progress: number[] = [];
    const source = Readable.from((function* () {
      for (let i = 0; i < data.length; i += 64 * 1024) yield data.subarray(i, i + 64 * 1024);
    })());
    const r = await new PackageUploader({ ...state, serverUrls: [`https://127.0.0.1:${p.port}`] }, { chunkBytes: 1024 * 1024, backoffMs: { base: 10, max: 50 }, onProgress: (b) => progress.push(b) }).upload(action.body.id, source);
    expect(p.cuts()).toBe(2);
    expect(r.resumed).toBeGreaterThanOrEqual(2);
    expect(r).toMatchObject({ size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    expect(progress.at(-1)).toBe(data.length);
    const stored = readFileSync(join(h.server.config.dataDir, 'files', 'packages', `${action.body.id}.zip`));
    expect(createHash('sha256').update(stored).digest('hex')).toBe(r.sha256);
  });

  it('keeps two chunks in flight: the next one is sent while the one before it is being stored', async () => {
    const { token } = await h.server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
    const actionId = (await h.call('POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } })).body.id as string;
    const packages = h.server.services.packages;
    const real = packages.uploadChunk.bind(packages);
    let now = 0;
    let most = 0;
    // Each chunk takes 100 ms to store: the next one arrives meanwhile.
    packages.uploadChunk = async (...args) => {
      most = Math.max(most, ++now);
      try {
        await new Promise((r) => setTimeout(r, 100));
        return await real(...args);
      } finally {
        now--;
      }
    };
    const data = await zipOf(6 * 1024 * 1024 + 4321);
    const progress: number[] = [];
    const r = await new PackageUploader(state, { chunkBytes: 1024 * 1024, onProgress: (b) => progress.push(b) }).upload(actionId, Readable.from([data]));
    expect(most).toBe(2);
    expect(r).toMatchObject({ size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    expect(progress).toEqual([1, 2, 3, 4, 5, 6].map((n) => n * 1024 * 1024).concat(data.length));
    expect(readFileSync(join(h.server.config.dataDir, 'files', 'packages', `${actionId}.zip`)).equals(data)).toBe(true);
  });

  it('sends one chunk at a time, neither backing off nor counting attempts, while the server has no room for chunks sent ahead', async () => {
    const { device, submit } = await packageDevices();
    const admissions = countAdmissions(h.server.services.packages);
    // Four other uploads each hold a chunk being received and one sent ahead: every place for a
    // chunk ahead is taken. The first is in its place before the one ahead arrives (else neither is ahead).
    const held: (() => void)[] = [];
    for (let n = 1; n <= 4; n++) {
      const other = await device(n);
      const id = await submit(other.machineId);
      for (const offset of [0, 1024 * 1024]) {
        const req = request(new URL(`/agent/v1/uploads/${id}?offset=${offset}`, `https://127.0.0.1:${agentPort}`), { method: 'PUT', ca: other.caCertPem, checkServerIdentity: () => undefined, agent: false, headers: { authorization: `Bearer ${other.machineId}.${other.credential}`, 'x-chunk-sha256': 'a'.repeat(64), 'content-length': String(1024 * 1024) } });
        req.on('error', () => undefined);
        req.write('x');
        held.push(() => req.destroy());
        await admissions.until(held.length);
      }
    }
    try {
      const state = await device(5);
      const actionId = await submit(state.machineId);
      const packages = h.server.services.packages;
      const real = packages.uploadChunk.bind(packages);
      const before = admissions.count();
      const MiB = 1024 * 1024;
      const data = await zipOf(3 * MiB + 99);
      // The agent sends a chunk while the one before it is in flight. On a slow store the server
      // could admit them in either order, or store one before the next is admitted: neither
      // would be ahead. Admissions keep the agent's order, and a chunk is stored only once the
      // next one has been admitted (the last chunk has none).
      const admit = packages.admitChunk.bind(packages);
      const admittedOffsets = new Set<number>();
      const admittedAt = (offset: number) => vi.waitFor(() => expect(admittedOffsets.has(offset)).toBe(true), { timeout: 15_000, interval: 5 });
      packages.admitChunk = async (machineId, id, offset, bytes) => {
        if (id === actionId && offset > 0) await admittedAt(offset - MiB);
        await admit(machineId, id, offset, bytes);
        if (id === actionId) admittedOffsets.add(offset);
      };
      let stored = 0;
      packages.uploadChunk = async (...args) => {
        const offset = args[2];
        if (offset + MiB < data.length) await admittedAt(offset + MiB);
        return real(...args).finally(() => stored++);
      };
      // One attempt a chunk: a refusal counted as one would fail the upload.
      const r = await new PackageUploader(state, { chunkBytes: 1024 * 1024, maxAttempts: 1, backoffMs: { base: 60_000, max: 60_000 } }).upload(actionId, Readable.from([data]));
      expect(r.sha256).toBe(createHash('sha256').update(data).digest('hex'));
      // Chunks sent ahead were asked to retry (admitted, then no room) and went again.
      expect(admissions.count() - before).toBeGreaterThan(stored);
    } finally {
      for (const drop of held) drop();
    }
  });

  it('frees a place ahead once the chunk in it is its upload\'s first', async () => {
    const { device, submit } = await packageDevices();
    const admissions = countAdmissions(h.server.services.packages);
    const held: (() => void)[] = [];
    /** A chunk PUT whose body stops after one byte until `finish()`, once the server has admitted it; its answer's status, if any. */
    const put = async (d: Awaited<ReturnType<typeof device>>, id: string, offset: number, body: Buffer) => {
      let status: number | undefined;
      const req = request(new URL(`/agent/v1/uploads/${id}?offset=${offset}`, `https://127.0.0.1:${agentPort}`), { method: 'PUT', ca: d.caCertPem, checkServerIdentity: () => undefined, agent: false, headers: { authorization: `Bearer ${d.machineId}.${d.credential}`, 'x-chunk-sha256': createHash('sha256').update(body).digest('hex'), 'content-length': String(body.length) } }, (res) => {
        status = res.statusCode;
        res.resume();
      });
      req.on('error', () => undefined);
      req.write(body.subarray(0, 1));
      held.push(() => req.destroy());
      await admissions.until(held.length);
      return { status: () => status, finish: () => req.end(body.subarray(1)) };
    };
    const MiB = Buffer.alloc(1024 * 1024, 7);
    const answered = (p: { status: () => number | undefined }, status: number) => vi.waitFor(() => expect(p.status()).toBe(status), { timeout: 10_000, interval: 10 });
    try {
      // Four uploads each with a chunk arriving and one sent ahead: every place ahead is taken.
      const pairs = [];
      for (let n = 1; n <= 4; n++) {
        const d = await device(n);
        const id = await submit(d.machineId);
        const first = await put(d, id, 0, MiB);
        pairs.push({ first, ahead: await put(d, id, MiB.length, MiB) });
      }
      const d5 = await device(5);
      const id5 = await submit(d5.machineId);
      await put(d5, id5, 0, MiB);
      // The fifth upload's chunk ahead finds no place.
      await answered(await put(d5, id5, MiB.length, MiB), 503);
      // The first upload's first chunk is stored: the chunk behind it is first now, its place ahead free.
      pairs[0]!.first.finish();
      await answered(pairs[0]!.first, 200);
      const admitted = await put(d5, id5, MiB.length, MiB);
      // A refusal would be answered at once, as the one above was.
      await new Promise((r) => setTimeout(r, 300));
      expect(admitted.status()).toBeUndefined();
    } finally {
      for (const drop of held) drop();
    }
  });

  it('resumes after an agent restart with two chunks in flight', async () => {
    const { token } = await h.server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
    const actionId = (await h.call('POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } })).body.id as string;
    const packages = h.server.services.packages;
    const real = packages.uploadChunk.bind(packages);
    const stop = new AbortController();
    let calls = 0;
    // The agent stops (its requests cut) while the third chunk is stored and the fourth waits behind it.
    packages.uploadChunk = async (...args) => {
      if (++calls === 4) stop.abort(new Error('agent stopped'));
      await new Promise((r) => setTimeout(r, 50));
      return real(...args);
    };
    const data = await zipOf(6 * 1024 * 1024 + 4321);
    const err = await new PackageUploader(state, { chunkBytes: 1024 * 1024, signal: stop.signal }).upload(actionId, Readable.from([data])).catch((e: Error) => e);
    expect(String(err)).toMatch(/agent stopped/);
    // The chunks the server had received are stored (or refused) meanwhile; the next run asks where to resume.
    await new Promise((r) => setTimeout(r, 300));
    packages.uploadChunk = real;
    const r = await new PackageUploader(state, { chunkBytes: 1024 * 1024 }).upload(actionId, Readable.from([data]));
    expect(r.heldAtStart).toBeGreaterThanOrEqual(2 * 1024 * 1024);
    expect(r.heldAtStart % (1024 * 1024)).toBe(0);
    expect(r).toMatchObject({ size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
    expect(readFileSync(join(h.server.config.dataDir, 'files', 'packages', `${actionId}.zip`)).equals(data)).toBe(true);
  });

  it('sends a chunk again when the server finds it corrupted', async () => {
    const { token } = await h.server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
    const actionId = (await h.call('POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } })).body.id as string;
    const packages = h.server.services.packages;
    const real = packages.uploadChunk.bind(packages);
    let calls = 0;
    // The second chunk arrives damaged once (as the server sees it): refused, then sent again.
    packages.uploadChunk = async (machineId, id, offset, chunk, sha) => {
      calls++;
      if (calls === 2) {
        const damaged = Buffer.from(chunk);
        damaged[0] = damaged[0]! ^ 1;
        return real(machineId, id, offset, damaged, sha);
      }
      return real(machineId, id, offset, chunk, sha);
    };
    // Three chunks: the zip's headers fit in the last one.
    const data = await zipOf(3 * 1024 * 1024 - 1024);
    const r = await new PackageUploader(state, { chunkBytes: 1024 * 1024, backoffMs: { base: 10, max: 20 } }).upload(actionId, Readable.from([data]));
    // Three chunks, the second sent again (the third too when it came before that second try).
    expect(calls).toBeGreaterThanOrEqual(4);
    expect(r.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    const stored = readFileSync(join(h.server.config.dataDir, 'files', 'packages', `${actionId}.zip`));
    expect(stored.equals(data)).toBe(true);
  });

  it('waits out a full server disk with backoff, and gives up with a clear error when it stays full', async () => {
    const { token } = await h.server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
    const submit = async () => (await h.call('POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } })).body.id as string;
    // The real gateway and service, with the disk "full" for the first two chunk writes.
    const packages = h.server.services.packages;
    const real = packages.uploadChunk.bind(packages);
    let full = 2;
    packages.uploadChunk = async (...args) => {
      if (full-- > 0) throw new InsufficientStorageError('The server has no space left for package files; the agent will retry later');
      return real(...args);
    };
    const first = await submit();
    const data = await zipOf(1024 * 1024);
    const r = await new PackageUploader(state, { backoffMs: { base: 10, max: 20 } }).upload(first, Readable.from([data]));
    expect(r.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(full).toBeLessThan(0);

    await h.call('POST', `/api/machineactions/${first}/cancel`, { body: { Comment: 'x' } }).catch(() => undefined);
    await h.server.services.agentReports.agentResult(state.machineId, first, 'Succeeded', null, {});
    full = 1000;
    const second = await submit();
    const err = await new PackageUploader(state, { backoffMs: { base: 10, max: 20 }, storageFullGiveUpMs: 200 }).upload(second, Readable.from([data])).catch((e: Error) => e);
    expect(String(err)).toMatch(/The server has had no space for the package for 0 s: The server has no space left for package files/);
  });

  it('treats the disk reserve (507, answered before the chunk is read) as retry-later, and fails with the server\'s reason when it lasts', async () => {
    await h.close();
    // A reserve larger than any disk: every chunk is refused for space, before its body is read.
    h = await startHarness({ diskReserveBytes: 2 ** 50 });
    agentPort = (await h.server.listen()).agentPort;
    const { token } = await h.server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
    const actionId = (await h.call('POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } })).body.id as string;
    const packages = h.server.services.packages;
    const admit = packages.admitChunk.bind(packages);
    let refused = 0;
    packages.admitChunk = async (...args) => admit(...args).catch((e: unknown) => {
      refused++;
      throw e;
    });
    const data = await zipOf(3 * 1024 * 1024);
    // Four-megabyte chunks the server answers early: the agent must read the 507, never a reset.
    const err = await new PackageUploader(state, { backoffMs: { base: 10, max: 40 }, maxAttempts: 2, storageFullGiveUpMs: 400 }).upload(actionId, Readable.from([data])).catch((e: Error) => e);
    expect(String(err)).toMatch(/The server has had no space for the package for 0 s: The server's disk is nearly full: \d+ MiB free, and diskReserveBytes keeps/);
    expect(refused).toBeGreaterThan(2);
    expect((await h.call('GET', `/api/machineactions/${actionId}`)).body.status).toBe('Pending');
  });

  it('stops at once with the server\'s reason when the package is over maxPackageBytes (413 is not retried)', async () => {
    await h.close();
    h = await startHarness({ maxPackageBytes: 2 * 1024 * 1024 });
    agentPort = (await h.server.listen()).agentPort;
    const { token } = await h.server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
    const actionId = (await h.call('POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } })).body.id as string;
    const err = await new PackageUploader(state, { chunkBytes: 1024 * 1024, backoffMs: { base: 10, max: 20 } }).upload(actionId, Readable.from([await zipOf(3 * 1024 * 1024)])).catch((e: Error) => e);
    expect(String(err)).toBe('Error: The server refused the package upload: The package is larger than this server accepts (maxPackageBytes: 2097152 bytes); it was refused and deleted');
    expect((await h.call('GET', `/api/machineactions/${actionId}`)).body).toMatchObject({ status: 'Failed', error: 'The package is larger than this server accepts (maxPackageBytes: 2097152 bytes); it was refused and deleted' });
  });

  it('fails with the server\'s reason when the action is no longer running', async () => {
    const { token } = await h.server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
    const action = await h.call('POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } });
    await h.call('POST', `/api/machineactions/${action.body.id}/cancel`, { body: { Comment: 'no' } });
    const err = await new PackageUploader(state, { backoffMs: { base: 10, max: 20 } }).upload(action.body.id, Readable.from([Buffer.from('x')])).catch((e: Error) => e);
    expect(String(err)).toMatch(/The action is Cancelled; its package is no longer accepted/);
  });
});
