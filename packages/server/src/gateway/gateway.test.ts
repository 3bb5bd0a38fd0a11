import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { enroll } from '@cordon/agent';
import { PROTOCOL_VERSION } from '@cordon/protocol';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

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

function open(state: { caCertPem: string }, authorization: string): Promise<{ ws: WebSocket; closed: Promise<{ code: number; reason: string }> } | { status: number }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${agentPort}/agent/v1`, { ca: state.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization } });
    const closed = new Promise<{ code: number; reason: string }>((r) => ws.on('close', (code, reason) => r({ code, reason: reason.toString() })));
    ws.on('open', () => resolve({ ws, closed }));
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode ?? 0 }));
    ws.on('error', () => {});
  });
}

/** Connects as the enrolled agent, keeps every frame the server sends, and says hello. */
async function helloSession(state: Awaited<ReturnType<typeof enrolled>>, inv = inventory()) {
  const c = await open(state, `Bearer ${state.machineId}.${state.credential}`);
  if (!('ws' in c)) throw new Error('expected a socket');
  const frames: any[] = [];
  c.ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  c.ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inv }));
  return { ...c, frames };
}

/** Makes every hello (its inventory write) take `ms` longer, as a busy store would. */
function slowStore(ms: number): void {
  const machines = h.server.services.machines;
  const applyInventory = machines.applyInventory.bind(machines);
  machines.applyInventory = async (id, inv) => {
    await new Promise((r) => setTimeout(r, ms));
    return applyInventory(id, inv);
  };
}

/** An event whose data nests 200,000 deep: checking it recursively would overflow the stack and crash the server. */
const deeplyNested = () => `{"type":"event","eventId":"${crypto.randomUUID()}","kind":"detection","occurredAt":"2026-11-25T10:00:00.000Z","data":{"a":${'['.repeat(200_000)}${']'.repeat(200_000)}}}`;

describe('agent gateway', () => {
  it('enrolls only with a token whose pin matches the server CA, and only while the token is valid', async () => {
    const { token } = await h.server.services.enrollment.createToken('test');
    const wrongPin = token.replace(/\.[0-9a-f]{64}$/, `.${'0'.repeat(64)}`);
    await expect(enroll(`https://127.0.0.1:${agentPort}`, wrongPin, agentDir, inventory())).rejects.toThrow(/does not match the enrollment token/);
    await expect(enroll(`http://127.0.0.1:${agentPort}`, token, agentDir, inventory())).rejects.toThrow(/https/);
    await expect(enroll(`https://127.0.0.1:${agentPort}`, 'garbage', agentDir, inventory())).rejects.toThrow(/not a Cordon enrollment token/);
    h.clock.advance(25 * 3600_000);
    await expect(enroll(`https://127.0.0.1:${agentPort}`, token, agentDir, inventory())).rejects.toThrow(/expired/);
    expect((await h.call('GET', '/api/machines')).body.value).toHaveLength(0);
  });

  it('refuses an upgrade without a valid device credential before any frame', async () => {
    const state = await enrolled();
    for (const auth of ['', 'Bearer nope', `Bearer ${state.machineId}.wrong-credential`, `Bearer ${'b'.repeat(40)}.${state.credential}`]) {
      const r = await open(state, auth);
      expect(r, auth).toEqual({ status: 401 });
    }
  });

  it('routes a valid session and closes the connection on malformed frames without harm', async () => {
    const state = await enrolled();
    const auth = `Bearer ${state.machineId}.${state.credential}`;
    const bad: (string | Buffer)[] = ['not json', JSON.stringify({ type: 'heartbeat' }), JSON.stringify({ type: 'ack', actionId: 'x' }), JSON.stringify({ type: 'nosuch' }), Buffer.from([1, 2, 3]), JSON.stringify({ type: 'hello', protocol: 99, inventory: inventory() }), deeplyNested()];
    for (const frame of bad) {
      const c = await open(state, auth);
      if (!('ws' in c)) throw new Error('expected a socket');
      c.ws.send(frame);
      const closed = await c.closed;
      expect(closed.code, String(frame)).toBe(1008);
    }
    // Nothing after a rejected frame is routed, and an agent flooding frames is cut off.
    const r = await open(state, auth);
    if (!('ws' in r)) throw new Error('expected a socket');
    r.ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventory() }));
    r.ws.send('not json');
    r.ws.send(JSON.stringify({ type: 'inventory', inventory: inventory({ hostname: 'after-reject' }) }));
    expect((await r.closed).code).toBe(1008);
    const f = await open(state, auth);
    if (!('ws' in f)) throw new Error('expected a socket');
    f.ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventory() }));
    for (let i = 0; i < 300; i++) f.ws.send(JSON.stringify({ type: 'heartbeat', seq: i }));
    expect(await f.closed).toEqual({ code: 1008, reason: 'more than 50 frames a second' });
    expect((await h.call('GET', `/api/machines/${state.machineId}`)).body.computerDnsName).toBe('web-01');
    // A frame before hello is refused too.
    const c = await helloSession(state, inventory({ hostname: 'renamed' }));
    const { frames } = c;
    await vi.waitFor(() => expect(frames[0]).toMatchObject({ type: 'welcome', machineId: state.machineId }));
    expect((await h.call('GET', `/api/machines/${state.machineId}`)).body).toMatchObject({ computerDnsName: 'renamed', isConnected: true });
    c.ws.close();
    await c.closed;
    // The disconnect is recorded after the close: a slow store takes longer than any fixed pause.
    await vi.waitFor(
      async () => {
        const events = (await h.call('GET', `/api/machines/${state.machineId}/timeline`)).body.value.map((e: { eventType: string }) => e.eventType);
        expect(events).toEqual(expect.arrayContaining(['AgentOnline', 'AgentOffline', 'AgentEnrolled']));
      },
      { timeout: 10_000, interval: 50 },
    );
    const metrics = (await h.call('GET', '/metrics', { token: null })).text;
    expect(metrics).toMatch(/cordon_agent_frames_rejected_total\{reason="schema"\} [1-9]/);
    expect((await h.call('GET', '/api/health', { token: null })).body.status).toBe('ok');
  });
});

describe('agent gateway: frames for features still to come', () => {
  async function session() {
    const state = await enrolled();
    const c = await helloSession(state);
    const { frames } = c;
    const next = async (type: string) => {
      for (let i = 0; i < 100 && !frames.some((f) => f.type === type); i++) await new Promise((r) => setTimeout(r, 20));
      return frames.find((f) => f.type === type);
    };
    await next('welcome');
    return { ...c, frames, next };
  }

  it('closes an agent stream it has no session for, with why, and keeps the connection', async () => {
    const s = await session();
    const streamId = '00000000-0000-4000-8000-000000000051';
    s.ws.send(JSON.stringify({ type: 'streamOpen', streamId, kind: 'fileTransfer', ownerId: '00000000-0000-4000-8000-000000000052', credit: 65536 }));
    expect(await s.next('streamClose')).toEqual({ type: 'streamClose', streamId, reason: 'Unsupported', detail: 'this server has no live-response or file-transfer sessions' });
    // A close is not answered, and the connection still routes frames.
    s.ws.send(JSON.stringify({ type: 'streamClose', streamId, reason: 'Cancelled' }));
    s.ws.send(JSON.stringify({ type: 'streamData', streamId, seq: 0, data: Buffer.alloc(65536).toString('base64') }));
    // The data after the close is refused with a second close (the close itself is not answered).
    await vi.waitFor(() => expect(s.frames.filter((f) => f.type === 'streamClose')).toHaveLength(2), { timeout: 10_000, interval: 20 });
    await new Promise((r) => setTimeout(r, 200));
    expect(s.frames.filter((f) => f.type === 'streamClose')).toHaveLength(2);
    expect(s.ws.readyState).toBe(WebSocket.OPEN);
    // Over the per-frame budget is a bad frame like any other.
    s.ws.send(JSON.stringify({ type: 'streamData', streamId, seq: 1, data: Buffer.alloc(65537).toString('base64') }));
    expect((await s.closed).code).toBe(1008);
  });
});

describe('agent gateway: frame order', () => {
  it('queues the frames an agent sends right after hello behind it, however slow the store is', async () => {
    const state = await enrolled();
    slowStore(300);
    const c = await helloSession(state);
    const { frames } = c;
    c.ws.send(JSON.stringify({ type: 'heartbeat', seq: 1 }));
    c.ws.send(JSON.stringify({ type: 'inventory', inventory: inventory({ hostname: 'after-hello' }) }));
    await vi.waitFor(() => expect(frames[0]).toMatchObject({ type: 'welcome' }));
    await vi.waitFor(async () => expect((await h.call('GET', `/api/machines/${state.machineId}`)).body.computerDnsName).toBe('after-hello'), { timeout: 5000 });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
    await c.closed;
  });
});

describe('agent gateway: a busy node', () => {
  it('keeps an agent that said hello in time, however long the hello takes to handle', async () => {
    (h.server.gateway as unknown as { deps: { helloTimeoutMs?: number } }).deps.helloTimeoutMs = 300;
    const state = await enrolled();
    slowStore(800);
    const c = await helloSession(state);
    const { frames } = c;
    await vi.waitFor(() => expect(frames[0]).toMatchObject({ type: 'welcome' }), { timeout: 3000 });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
    await c.closed;
  });

  it('still cuts off a connection that never says hello', async () => {
    (h.server.gateway as unknown as { deps: { helloTimeoutMs?: number } }).deps.helloTimeoutMs = 300;
    const state = await enrolled();
    const c = await open(state, `Bearer ${state.machineId}.${state.credential}`);
    if (!('ws' in c)) throw new Error('expected a socket');
    expect(await c.closed).toEqual({ code: 1008, reason: 'no hello within 0.3 s' });
  });
});

describe('agent gateway: events', () => {
  it('acknowledges an agent event once the sink took it, and not when it failed', async () => {
    const state = await enrolled();
    const c = await helloSession(state);
    const { frames } = c;
    const accepted: unknown[] = [];
    let fail = false;
    h.server.services.deviceEvents.accept = async (machineId, event) => {
      if (fail) throw new Error('store down');
      accepted.push({ machineId, event });
    };
    const event = { type: 'event', eventId: '00000000-0000-4000-8000-000000000061', kind: 'blockedExecution', occurredAt: '2026-11-25T09:59:00.000Z', data: { path: '/tmp/x' } };
    c.ws.send(JSON.stringify(event));
    await vi.waitFor(() => expect(frames.filter((f) => f.type === 'eventAck')).toEqual([{ type: 'eventAck', eventId: event.eventId }]));
    expect(accepted).toEqual([{ machineId: state.machineId, event }]);
    fail = true;
    c.ws.send(JSON.stringify({ ...event, eventId: '00000000-0000-4000-8000-000000000062' }));
    await new Promise((r) => setTimeout(r, 200));
    expect(frames.filter((f) => f.type === 'eventAck')).toHaveLength(1);
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    // Data over the event budget is a bad frame.
    c.ws.send(JSON.stringify({ ...event, data: { blob: 'x'.repeat(20_000) } }));
    expect((await c.closed).code).toBe(1008);
  });
});
