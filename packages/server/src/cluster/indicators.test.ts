import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { enroll } from '@cordon/agent';
import { CONTENT_CAPABILITY, PROTOCOL_VERSION } from '@cordon/protocol';
import { loadServerConfig } from '../config.js';
import { createCordonServer, type CordonServer } from '../server.js';
import { inventory, TestClock } from '../testing/harness.js';
import { createTestDatabase, dropTestDatabase } from '../testing/stores.js';

/**
 * Indicators on two server nodes sharing one PostgreSQL store and data directory: what is changed
 * on either is published in order and reaches agents on both; the expiry check run by both at once
 * publishes once.
 */
let dir: string;
let databaseUrl: string;
let clock: TestClock;
let token: string;
const nodes: { server: CordonServer; agentPort: number }[] = [];
const sockets: WebSocket[] = [];

async function node(): Promise<{ server: CordonServer; agentPort: number }> {
  const config = loadServerConfig({ dataDir: join(dir, 'shared'), databaseUrl, host: '127.0.0.1', port: 0, agentHost: '127.0.0.1', agentPort: 0, logLevel: 'silent' }, {});
  const server = await createCordonServer(config, { logger: pino({ level: 'silent' }), clock: clock.now });
  const n = { server, agentPort: (await server.listen()).agentPort };
  nodes.push(n);
  return n;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-cluster-indicators-'));
  databaseUrl = await createTestDatabase('indicators');
  clock = new TestClock(Date.now());
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await Promise.all(nodes.splice(0).map((n) => n.server.close()));
  await dropTestDatabase(databaseUrl);
  rmSync(dir, { recursive: true, force: true });
});

const submit = async (server: CordonServer, body: Record<string, unknown>) => {
  const r = await server.app.inject({ method: 'POST', url: '/api/indicators', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  expect(r.statusCode).toBe(200);
  return r.json<{ id: string }>();
};
const block = (value: string, over: Record<string, unknown> = {}) => ({ IndicatorValue: value, IndicatorType: 'IpAddress', Action: 'Block', Title: value, ...over });

/** Every published version of the indicators, oldest first, as the values each lists. */
async function versions(server: CordonServer): Promise<string[][]> {
  const latest = (await server.services.content.latest('indicators', 'default'))?.manifest.version ?? 0;
  const out: string[][] = [];
  for (let v = 1; v <= latest; v++) {
    const chunks: Buffer[] = [];
    for await (const c of (await server.services.content.bytes('indicators', 'default', v))!.read(0)) chunks.push(c as Buffer);
    out.push((JSON.parse(Buffer.concat(chunks).toString('utf8')) as { indicators: { value: string }[] }).indicators.map((e) => e.value));
  }
  return out;
}

describe('indicators on two nodes', () => {
  it('tell an agent held by the other node of each new version', async () => {
    const a = await node();
    token = a.server.initialAdminToken!;
    const b = await node();
    const { token: enrollment } = await a.server.services.enrollment.createToken('test');
    const inv = inventory({ hostname: 'on-b', capabilities: [{ name: CONTENT_CAPABILITY, version: '1' }] });
    const state = await enroll(`https://127.0.0.1:${b.agentPort}`, enrollment, join(dir, 'agent'), inv);
    const ws = new WebSocket(`wss://127.0.0.1:${b.agentPort}/agent/v1`, { ca: state.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization: `Bearer ${state.machineId}.${state.credential}` } });
    sockets.push(ws);
    const frames: { type: string }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as { type: string }));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inv }));
    await vi.waitFor(() => expect(a.server.services.machines.get(state.machineId).then((m) => m.isConnected)).resolves.toBe(true), { timeout: 10_000, interval: 25 });

    await submit(a.server, block('203.0.113.7'));
    await vi.waitFor(() => expect(frames.filter((f) => f.type === 'content')).toEqual([{ type: 'content', kind: 'indicators', name: 'default', version: 1 }]), { timeout: 10_000, interval: 25 });
  });

  it('publish changes made on both at once in order: each version holds the ones before, the last holds all', async () => {
    const a = await node();
    token = a.server.initialAdminToken!;
    const b = await node();
    const values = Array.from({ length: 12 }, (_, i) => `10.7.0.${i + 1}`);
    await Promise.all(values.map((v, i) => submit((i % 2 ? b : a).server, block(v))));
    const published = await versions(a.server);
    expect(published.at(-1)!.sort()).toEqual([...values].sort());
    for (let i = 1; i < published.length; i++) expect(published[i]).toEqual(expect.arrayContaining(published[i - 1]!));
    // Nothing changed since: neither node publishes again.
    expect(await Promise.all([a.server.services.indicators.publishExpired(), b.server.services.indicators.publishExpired()])).toEqual([null, null]);
  });

  it('publish an expired indicator\'s removal once, however many nodes check at the same moment', async () => {
    const a = await node();
    token = a.server.initialAdminToken!;
    const b = await node();
    await submit(a.server, block('10.8.0.1', { ExpirationTime: new Date(clock.t + 60_000).toISOString() }));
    await submit(b.server, block('10.8.0.2'));
    expect((await versions(a.server)).at(-1)).toEqual(['10.8.0.1', '10.8.0.2']);
    clock.advance(61_000);
    const results = await Promise.all([a, b, a, b].map((n) => n.server.services.indicators.publishExpired()));
    expect(results.filter((r) => r !== null)).toEqual([3]);
    expect(await versions(b.server)).toEqual([['10.8.0.1'], ['10.8.0.1', '10.8.0.2'], ['10.8.0.2']]);
  });
});
