import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { enroll, ServerConnection } from '@cordon/agent';
import { PROTOCOL_VERSION } from '@cordon/protocol';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

/** Revoking a device's credential disconnects its agent at once and refuses it from then on. */
let h: Harness;
let agentPort: number;
let agentDir: string;
beforeEach(async () => {
  h = await startHarness();
  agentPort = (await h.server.listen()).agentPort;
  agentDir = mkdtempSync(join(tmpdir(), 'cordon-agent-'));
});
afterEach(async () => {
  await h.close();
  rmSync(agentDir, { recursive: true, force: true });
});

async function enrolled() {
  const { token } = await h.server.services.enrollment.createToken('test');
  return enroll(`https://127.0.0.1:${agentPort}`, token, agentDir, inventory());
}

type Opened = { ws: WebSocket; closed: Promise<{ code: number; reason: string; at: number }> } | { status: number };
function open(state: { caCertPem: string; machineId: string; credential: string }): Promise<Opened> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${agentPort}/agent/v1`, { ca: state.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization: `Bearer ${state.machineId}.${state.credential}` } });
    const closed = new Promise<{ code: number; reason: string; at: number }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString(), at: Date.now() })));
    ws.on('open', () => resolve({ ws, closed }));
    ws.on('unexpected-response', (req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      req.destroy();
    });
    ws.on('error', () => {});
  });
}

async function connected(state: { caCertPem: string; machineId: string; credential: string }) {
  const c = await open(state);
  if (!('ws' in c)) throw new Error(`expected a socket, got ${c.status}`);
  const welcomed = new Promise((r) => c.ws.once('message', r));
  c.ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventory() }));
  await welcomed;
  return c;
}

function contentStatus(state: { caCertPem: string; machineId: string; credential: string }): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(`https://127.0.0.1:${agentPort}/agent/v1/content/indicators/default/manifest`, { ca: state.caCertPem, checkServerIdentity: () => undefined, headers: { authorization: `Bearer ${state.machineId}.${state.credential}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('device credential revocation', () => {
  it('disconnects the agent within a second, refuses it afterwards, and shows it on the machine and its timeline', async () => {
    const state = await enrolled();
    const c = await connected(state);
    expect((await h.call('GET', `/api/machines/${state.machineId}`)).body).toMatchObject({ isConnected: true, credentialRevokedAt: null, credentialRevokedBy: null });
    expect(await contentStatus(state)).not.toBe(401);

    const at = Date.now();
    const r = await h.call('POST', `/api/machines/${state.machineId}/revokeCredential`, { body: { Comment: 'laptop stolen' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id: state.machineId, credentialRevokedAt: '2026-11-25T10:00:00.000Z', credentialRevokedBy: 'admin' });
    const closed = await c.closed;
    expect(closed).toMatchObject({ code: 4401, reason: 'device credential revoked' });
    expect(closed.at - at).toBeLessThan(1000);
    for (let i = 0; i < 50 && (await h.call('GET', `/api/machines/${state.machineId}`)).body.isConnected; i++) await new Promise((res) => setTimeout(res, 20));
    expect((await h.call('GET', `/api/machines/${state.machineId}`)).body.isConnected).toBe(false);

    expect(await open(state)).toEqual({ status: 401 });
    expect(await contentStatus(state)).toBe(401);
    const timeline = (await h.call('GET', `/api/machines/${state.machineId}/timeline`)).body.value as { eventType: string; actor: string | null; data: unknown }[];
    expect(timeline.find((e) => e.eventType === 'CredentialRevoked')).toMatchObject({ actor: 'admin', data: { comment: 'laptop stolen' } });
    const audit = (await h.call('GET', '/api/audit?$top=5')).body.value.find((a: { action: string }) => a.action === 'RevokeDeviceCredential');
    expect(audit).toMatchObject({ actor: 'admin', targetType: 'machine', targetId: state.machineId, comment: 'laptop stolen', outcome: 'Succeeded', detail: { wasConnected: true } });

    const again = await h.call('POST', `/api/machines/${state.machineId}/revokeCredential`, { body: { Comment: 'twice' } });
    expect([again.status, again.body.error.code]).toEqual([409, 'AlreadyRevoked']);
  });

  it('also closes a connection that has not said hello yet', async () => {
    const state = await enrolled();
    const c = await open(state);
    if (!('ws' in c)) throw new Error('expected a socket');
    expect((await h.call('POST', `/api/machines/${state.machineId}/revokeCredential`, { body: { Comment: 'x' } })).status).toBe(200);
    expect((await c.closed).code).toBe(4401);
  });

  it('answers 404 for an unknown machine and 400 without a comment, changing nothing', async () => {
    const state = await enrolled();
    const c = await connected(state);
    const audit = (await h.call('GET', '/api/audit?$top=1')).body.value[0].seq;
    expect((await h.call('POST', `/api/machines/${'b'.repeat(40)}/revokeCredential`, { body: { Comment: 'x' } })).status).toBe(404);
    const missing = await h.call('POST', `/api/machines/${state.machineId}/revokeCredential`, { body: {} });
    expect([missing.status, missing.body.error.target]).toEqual([400, 'Comment']);
    // Nothing changed; the two refusals are on the record, as every refused request is.
    const since = ((await h.call('GET', '/api/audit?$top=10')).body.value as { seq: number; outcome: string; detail: { status: number } }[]).filter((a) => a.seq > audit);
    expect(since.map((a) => [a.outcome, a.detail.status])).toEqual([['Refused', 400], ['Refused', 404]]);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect((await h.call('GET', `/api/machines/${state.machineId}`)).body).toMatchObject({ isConnected: true, credentialRevokedAt: null });
    c.ws.close();
  });

  it('the agent shows a clear "credential revoked, re-enroll" state and does not reconnect in a loop', async () => {
    const state = await enrolled();
    const lines: { level: number; msg: string; state?: string }[] = [];
    const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s)) });
    let opened = 0;
    const conn = new ServerConnection(state, { onOpen: () => void (opened++, conn.send({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventory() })), onFrame: () => {}, onClose: () => {} }, logger, { reconnectMaxSeconds: 1, pingSeconds: 30, credentialRetrySeconds: 600 });
    conn.start();
    for (let i = 0; i < 100 && !(await h.call('GET', `/api/machines/${state.machineId}`)).body.isConnected; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await h.call('POST', `/api/machines/${state.machineId}/revokeCredential`, { body: { Comment: 'x' } })).status).toBe(200);
    await new Promise((r) => setTimeout(r, 2500));
    expect(opened).toBe(1);
    const refused = lines.filter((l) => l.state === 'credentialRevoked');
    expect(refused).toHaveLength(1);
    expect(refused[0]).toMatchObject({ level: 50 });
    expect(refused[0]!.msg).toMatch(/credential.*revoked.*re-enroll/i);
    expect(conn.credentialRevoked).toBe(true);
    await conn.stop();

    // A restarted agent is refused at the upgrade, and says so the same way.
    lines.length = 0;
    const again = new ServerConnection(state, { onOpen: () => void opened++, onFrame: () => {}, onClose: () => {} }, logger, { reconnectMaxSeconds: 1, pingSeconds: 30, credentialRetrySeconds: 600 });
    again.start();
    for (let i = 0; i < 100 && !again.credentialRevoked; i++) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 1500));
    expect(opened).toBe(1);
    expect(again.credentialRevoked).toBe(true);
    expect(lines.filter((l) => l.state === 'credentialRevoked')).toHaveLength(1);
    await again.stop();
  });
});
