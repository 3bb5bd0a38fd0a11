/**
 * The gateway's HTTP answers outside the happy path (status, code, message, headers), pinned so
 * that moving code between the gateway's files cannot change what an agent sees.
 */
import { createHash } from 'node:crypto';
import { request } from 'node:https';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createMetrics } from '../metrics.js';
import { countAdmissions } from '../testing/admissions.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';
import { AgentGateway } from './gateway.js';

let h: Harness;
let gw: AgentGateway;
let port: number;
let credential: string;
let machineId: string;
let actionId: string;

/** A second gateway over the harness's services, with a small enrollment budget to reach 429. */
let metrics: ReturnType<typeof createMetrics>;
async function gateway(opts: { packages: boolean }): Promise<void> {
  const s = h.server.services;
  metrics = createMetrics();
  gw = new AgentGateway({ keys: h.server.keys, enrollment: s.enrollment, machines: s.machines, timeline: s.timeline, deviceEvents: s.deviceEvents, metrics, logger: pino({ level: 'silent' }), heartbeatSeconds: 30, enrollmentsPerMinute: 3 });
  gw.attach(s.agentReports, opts.packages ? s.packages : undefined);
  port = await gw.listen('127.0.0.1', 0);
}

beforeEach(async () => {
  h = await startHarness();
  const { token } = await h.server.services.enrollment.createToken('test');
  const enrolled = await h.server.services.enrollment.enroll(token.split('.')[1]!, inventory({ agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
  machineId = enrolled.machineId;
  credential = enrolled.credential;
  actionId = (await h.call('POST', `/api/machines/${machineId}/collectInvestigationPackage`, { body: { Comment: 'triage' } })).body.id as string;
});
afterEach(async () => {
  await gw?.close();
  await h.close();
});

interface Answer {
  status: number;
  headers: Record<string, unknown>;
  text: string;
  body: any;
}

/** One request; `body` may be shorter than a declared content-length (the server answers early). */
function call(method: string, path: string, opts: { body?: Buffer | string; headers?: Record<string, string>; auth?: boolean; hold?: boolean; signal?: AbortSignal } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const headers = { ...(opts.auth === false ? {} : { authorization: `Bearer ${machineId}.${credential}` }), ...opts.headers };
    const req = request({ host: '127.0.0.1', port, path, method, headers, ca: h.server.keys.caCertPem, checkServerIdentity: () => undefined, agent: false, signal: opts.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let body: unknown = null;
        try {
          body = JSON.parse(text);
        } catch {
          body = null;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
      });
    });
    req.on('error', reject);
    if (opts.body !== undefined) req.write(opts.body);
    if (!opts.hold) req.end();
  });
}

const sha = 'a'.repeat(64);
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** A chunk PUT whose body stops half-way until `finish()` sends the rest. */
function partialPut(path: string, body: Buffer, hash: string): { answer: Promise<Answer>; finish(): void } {
  let req!: ReturnType<typeof request>;
  const answer = new Promise<Answer>((resolve, reject) => {
    req = request({ host: '127.0.0.1', port, path, method: 'PUT', headers: { authorization: `Bearer ${machineId}.${credential}`, 'x-chunk-sha256': hash, 'content-length': String(body.length) }, ca: h.server.keys.caCertPem, checkServerIdentity: () => undefined, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString(), body: JSON.parse(Buffer.concat(chunks).toString()) }));
    });
    req.on('error', reject);
  });
  req.write(body.subarray(0, body.length / 2));
  return { answer, finish: () => req.end(body.subarray(body.length / 2)) };
}

describe('agent gateway HTTP', () => {
  it('answers the public endpoints and enrollment errors as before', async () => {
    await gateway({ packages: true });
    expect(await call('GET', '/healthz', { auth: false })).toMatchObject({ status: 200, body: { status: 'ok' } });
    const ca = await call('GET', '/ca.crt', { auth: false });
    expect(ca).toMatchObject({ status: 200, text: h.server.keys.caCertPem });
    expect(ca.headers['content-type']).toBe('application/x-pem-file');
    expect(await call('GET', '/enroll', { auth: false })).toMatchObject({ status: 404, body: { error: { code: 'ResourceNotFound', message: 'Agents connect to /agent/v1 and enroll at POST /enroll' } } });
    // Three attempts a minute from one address in this gateway; the fourth waits.
    const enrollment = [
      [{ body: 'not json' }, 400, { code: 'InvalidRequestBody', message: 'The enrollment request is not valid JSON', target: 'body' }],
      [{ body: JSON.stringify({ secret: 'x'.repeat(129), inventory: inventory() }) }, 400, { code: 'InvalidRequestBody', target: 'secret' }],
      [{ body: JSON.stringify({ secret: 'nope', inventory: inventory() }) }, 401, { code: 'Unauthorized', message: 'The enrollment token is not valid' }],
    ] as const;
    for (const [opts, status, error] of enrollment) expect(await call('POST', '/enroll', { ...opts, auth: false }), opts.body).toMatchObject({ status, body: { error } });
    // The unknown token is noise a stranger can make: counted, not audited.
    expect(await metrics.registry.getSingleMetricAsString('cordon_unauthenticated_requests_total')).toContain('cordon_unauthenticated_requests_total{route="/enroll"} 1');
    expect(((await h.call('GET', '/api/audit')).body.value as { action: string; outcome: string }[]).filter((a) => a.action === 'Enroll' && a.outcome !== 'Succeeded')).toEqual([]);
    const limited = await call('POST', '/enroll', { auth: false, body: '{}' });
    expect(limited).toMatchObject({ status: 429, body: { error: { code: 'TooManyRequests' } } });
    expect(limited.body.error.message).toMatch(/^Too many enrollment attempts from this address; retry after \d+ seconds$/);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
  });

  it('refuses an enrollment body over 256 KiB', async () => {
    await gateway({ packages: true });
    const big = await call('POST', '/enroll', { auth: false, body: 'x'.repeat(300 * 1024) });
    expect(big).toMatchObject({ status: 400, body: { error: { code: 'InvalidRequestBody', message: 'Enrollment request too large', target: 'body' } } });
  });

  it('answers upload errors with the same codes and messages', async () => {
    await gateway({ packages: true });
    const base = `/agent/v1/uploads/${actionId}`;
    const cases: [string, string, Parameters<typeof call>[2], number, Record<string, unknown>][] = [
      ['GET', base, { auth: false }, 401, { code: 'Unauthorized', message: 'Present the device credential' }],
      ['GET', base, { headers: { authorization: `Bearer ${machineId}.wrong` } }, 401, { code: 'Unauthorized', message: 'Present the device credential' }],
      ['GET', '/agent/v1/uploads/not-an-id', {}, 404, { code: 'ResourceNotFound', message: 'No such upload path' }],
      ['PUT', `${base}?offset=-1`, { headers: { 'x-chunk-sha256': sha } }, 400, { code: 'InvalidInput', message: 'offset must be a whole number of bytes', target: 'offset' }],
      ['PUT', `${base}?offset=0`, { headers: { 'x-chunk-sha256': 'xyz' } }, 400, { code: 'InvalidInput', message: 'x-chunk-sha256 must be the hex SHA-256 of the chunk', target: 'x-chunk-sha256' }],
      ['PUT', `/agent/v1/uploads/00000000-0000-4000-8000-000000000099?offset=0`, { headers: { 'x-chunk-sha256': sha }, body: 'x' }, 404, { code: 'ResourceNotFound' }],
      ['PUT', `${base}?offset=0`, { headers: { 'x-chunk-sha256': sha, 'content-length': String(8 * 1024 * 1024 + 1) }, body: 'x', hold: true }, 413, { code: 'InvalidRequestBody', message: 'A chunk may be at most 8388608 bytes', target: 'body' }],
      ['POST', `${base}/complete`, { body: '{"size": -1}' }, 400, { code: 'InvalidRequestBody', message: 'Send {"size": <bytes>, "sha256": "<hex>"}', target: 'body' }],
      ['DELETE', base, {}, 405, { code: 'MethodNotAllowed', message: 'DELETE is not allowed here' }],
      ['GET', `${base}/complete`, {}, 405, { code: 'MethodNotAllowed', message: 'GET is not allowed here' }],
    ];
    for (const [method, path, opts, status, error] of cases) expect(await call(method, path, opts), `${method} ${path}`).toMatchObject({ status, body: { error } });
    expect(await call('GET', base)).toMatchObject({ status: 200, body: { offset: 0, complete: false } });
  });

  it('admits two chunks of one upload at once and asks a third to retry', async () => {
    await gateway({ packages: true });
    const held = new AbortController();
    const put = { headers: { 'x-chunk-sha256': sha, 'content-length': String(1024 * 1024) }, body: 'x', hold: true };
    // Two chunks that never finish arriving hold both of the upload's places.
    const admissions = countAdmissions(h.server.services.packages);
    void call('PUT', `/agent/v1/uploads/${actionId}?offset=0`, { ...put, signal: held.signal }).catch(() => undefined);
    void call('PUT', `/agent/v1/uploads/${actionId}?offset=0`, { ...put, signal: held.signal }).catch(() => undefined);
    await admissions.until(2);
    const busy = await call('PUT', `/agent/v1/uploads/${actionId}?offset=0`, put);
    expect(busy).toMatchObject({ status: 503, body: { error: { code: 'ServerBusy', message: 'Too many uploads in progress; retry shortly' } } });
    expect(busy.headers['retry-after']).toBe('5');
    expect(busy.headers.connection).toBe('close');
    held.abort();
  });

  it('admits chunks of another upload of the device meanwhile (four per device)', async () => {
    await gateway({ packages: true });
    const held = new AbortController();
    const put = { headers: { 'x-chunk-sha256': sha, 'content-length': String(1024 * 1024) }, body: 'x', hold: true };
    const admissions = countAdmissions(h.server.services.packages);
    void call('PUT', `/agent/v1/uploads/${actionId}?offset=0`, { ...put, signal: held.signal }).catch(() => undefined);
    void call('PUT', `/agent/v1/uploads/${actionId}?offset=0`, { ...put, signal: held.signal }).catch(() => undefined);
    await admissions.until(2);
    // The device's package upload of another action still gets its chunk stored.
    await h.call('POST', `/api/machineactions/${actionId}/cancel`, { body: { Comment: 'x' } });
    const other = (await h.call('POST', `/api/machines/${machineId}/collectInvestigationPackage`, { body: { Comment: 'again' } })).body.id as string;
    const data = Buffer.from('chunk');
    expect(await call('PUT', `/agent/v1/uploads/${other}?offset=0`, { headers: { 'x-chunk-sha256': sha256(data) }, body: data })).toMatchObject({ status: 200, body: { offset: 5 } });
    held.abort();
  });

  it('holds a chunk that arrives while the one before it is still arriving, and stores it right after that one', async () => {
    await gateway({ packages: true });
    const [a, b] = [Buffer.alloc(1024 * 1024, 1), Buffer.alloc(1024 * 1024, 2)];
    const admissions = countAdmissions(h.server.services.packages);
    const first = partialPut(`/agent/v1/uploads/${actionId}?offset=0`, a, sha256(a));
    await admissions.until(1);
    let secondDone = false;
    const second = call('PUT', `/agent/v1/uploads/${actionId}?offset=${a.length}`, { headers: { 'x-chunk-sha256': sha256(b) }, body: b }).finally(() => (secondDone = true));
    await admissions.until(2);
    await new Promise((r) => setTimeout(r, 300));
    // Not refused for its offset: it waits for the chunk before it.
    expect(secondDone).toBe(false);
    first.finish();
    expect(await first.answer).toMatchObject({ status: 200, body: { offset: a.length } });
    expect(await second).toMatchObject({ status: 200, body: { offset: 2 * a.length } });
    expect(await call('GET', `/agent/v1/uploads/${actionId}`)).toMatchObject({ status: 200, body: { offset: 2 * a.length } });
  });

  it('refuses the held chunk when the one before it is refused', async () => {
    await gateway({ packages: true });
    const [a, b] = [Buffer.alloc(1024 * 1024, 1), Buffer.alloc(1024 * 1024, 2)];
    // The first chunk arrives damaged: its hash does not match.
    const admissions = countAdmissions(h.server.services.packages);
    const first = partialPut(`/agent/v1/uploads/${actionId}?offset=0`, a, sha256(b));
    await admissions.until(1);
    const second = call('PUT', `/agent/v1/uploads/${actionId}?offset=${a.length}`, { headers: { 'x-chunk-sha256': sha256(b) }, body: b });
    await admissions.until(2);
    first.finish();
    expect(await first.answer).toMatchObject({ status: 400, body: { error: { code: 'ChunkHashMismatch' } } });
    expect(await second).toMatchObject({ status: 409, body: { error: { code: 'WrongOffset', message: `The upload continues at offset 0, not ${a.length}` } } });
    expect(await call('GET', `/agent/v1/uploads/${actionId}`)).toMatchObject({ status: 200, body: { offset: 0 } });
  });

  it('says uploads are off when no package service is attached, before asking for a credential', async () => {
    await gateway({ packages: false });
    expect(await call('GET', `/agent/v1/uploads/${actionId}`, { auth: false })).toMatchObject({ status: 404, body: { error: { code: 'ResourceNotFound', message: 'Uploads are not enabled on this server' } } });
  });

  it('answers an unexpected failure with a 500 and no detail', async () => {
    await gateway({ packages: true });
    h.server.services.enrollment.enroll = async () => {
      throw new Error('store down');
    };
    expect(await call('POST', '/enroll', { auth: false, body: JSON.stringify({ secret: 'x', inventory: inventory() }) })).toMatchObject({ status: 500, body: { error: { code: 'InternalError', message: 'Enrollment failed; see the server log' } } });
  });

  it('refuses an upgrade on another path', async () => {
    await gateway({ packages: true });
    const upgrade = (path: string) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`wss://127.0.0.1:${port}${path}`, { ca: h.server.keys.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization: `Bearer ${machineId}.${credential}` } });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', () => resolve(-1));
      });
    expect(await upgrade('/agent/v2')).toBe(404);
    expect(await upgrade('/agent/v1')).toBe(101);
    expect(gw.connectedCount).toBe(0);
  });
});
