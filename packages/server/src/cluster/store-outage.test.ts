import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { Agent, currentPlatform, enroll, IsolationManager, loadAgentConfig } from '@cordon/agent';
import { PROTOCOL_VERSION } from '@cordon/protocol';
import { loadServerConfig } from '../config.js';
import { createCordonServer, type CordonServer } from '../server.js';
import { inventory } from '../testing/harness.js';
import { startTestPostgres, type TestPostgres } from '../testing/postgres.js';

/**
 * The database goes away while a node runs (a restart, a network cut). This test stops a
 * PostgreSQL of its own, never the run's shared one.
 */
let postgres: TestPostgres;
let dir: string;
let server: CordonServer;
let token: string;
let agentPort: number;
beforeAll(async () => {
  postgres = await startTestPostgres({ durable: true });
  const admin = new pg.Client({ connectionString: postgres.url() });
  await admin.connect();
  await admin.query('create database cordon');
  await admin.end();
  dir = mkdtempSync(join(tmpdir(), 'cordon-outage-'));
  server = await createCordonServer(loadServerConfig({ dataDir: dir, databaseUrl: postgres.url('cordon'), host: '127.0.0.1', port: 0, agentHost: '127.0.0.1', agentPort: 0, logLevel: 'silent' }, {}), { logger: pino({ level: 'silent' }) });
  token = server.initialAdminToken!;
  ({ agentPort } = await server.listen());
});
afterAll(async () => {
  await server?.close();
  await postgres?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const api = async (method: 'GET' | 'POST', url: string, body?: unknown) => {
  const r = await server.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, payload: body ? JSON.stringify(body) : undefined });
  return { status: r.statusCode, body: r.json(), headers: r.headers };
};

/** This machine's firewall is never asked or touched: other tests on the host may be isolating. */
const platform = {
  ...currentPlatform(),
  firewall: { check: async () => ({ ok: true as const, version: 'test' }), apply: async () => {}, remove: async () => {}, active: async () => false },
  releasePrograms: async () => {},
  // Nobody on this machine is told anything.
  notifyUsers: async () => ({ wall: 'not sent (test)', desktop: [] }),
};

describe('a node whose database goes away', () => {
  it('answers 503 with Retry-After, keeps its agents connected, and recovers by itself', async () => {
    const { token: enrollment } = await server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, enrollment, join(dir, 'agent'), inventory());
    const ws = new WebSocket(`wss://127.0.0.1:${agentPort}/agent/v1`, { ca: state.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization: `Bearer ${state.machineId}.${state.credential}` } });
    const frames: any[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
    await new Promise((r) => ws.once('open', r));
    ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventory() }));
    await vi.waitFor(() => expect(frames.some((f) => f.type === 'welcome')).toBe(true));

    await postgres.kill();
    const during = await api('GET', '/api/machines');
    expect(during.status).toBe(503);
    expect(during.headers['retry-after']).toBe('5');
    expect(during.body.error).toMatchObject({ code: 'ServiceUnavailable', message: expect.stringMatching(/cannot reach its database/) });
    const health = await server.app.inject({ method: 'GET', url: '/api/health' });
    expect(health.statusCode).toBe(503);
    expect(health.json()).toMatchObject({ status: 'degraded', database: { engine: 'postgres', reachable: false } });
    ws.send(JSON.stringify({ type: 'heartbeat', seq: 1 }));
    await new Promise((r) => setTimeout(r, 500));
    expect(ws.readyState).toBe(WebSocket.OPEN);
    // Isolating meanwhile (the command was delivered before): the node still answers through the
    // rules (503, degraded), and the agent's check that it can reach a node must not roll back.
    const isolation = new IsolationManager({ dataDir: join(dir, 'agent'), platform, serverUrls: [`https://127.0.0.1:${agentPort}`], caCertPem: state.caCertPem, logger: pino({ level: 'silent' }), confirmSeconds: 3 });
    expect(await isolation.isolate('Full', [], 'outage')).toMatchObject({ isolationType: 'Full', confirmedInMs: expect.any(Number) });
    await isolation.release('action');

    await postgres.start();
    await vi.waitFor(async () => expect((await api('GET', '/api/machines')).status).toBe(200), { timeout: 15_000, interval: 200 });
    const submitted = await api('POST', `/api/machines/${state.machineId}/refreshInventory`, { Comment: 'after the outage' });
    expect(submitted.status).toBe(201);
    await vi.waitFor(() => expect(frames.filter((f) => f.type === 'command').map((f) => (JSON.parse(f.command.payload) as { actionId: string }).actionId)).toContain(submitted.body.id));

    // An ack (the agent started the action) that arrives while the database is away is stored
    // once it returns: the action shows as started, with its timeline event.
    await postgres.kill();
    ws.send(JSON.stringify({ type: 'ack', actionId: submitted.body.id }));
    await new Promise((r) => setTimeout(r, 300));
    await postgres.start();
    await vi.waitFor(async () => expect((await api('GET', `/api/machineactions/${submitted.body.id}`)).body.status).toBe('InProgress'), { timeout: 20_000, interval: 200 });
    const timeline = (await api('GET', `/api/machines/${state.machineId}/timeline`)).body.value as { actionId: string | null; title: string }[];
    expect(timeline.filter((e) => e.actionId === submitted.body.id && /started on the device/.test(e.title))).toHaveLength(1);
    ws.close();
  });
});


describe('a result an agent sends while the database is down', () => {
  it('is stored once the database returns: the action ends Succeeded exactly once with its result', async () => {
    const { token: enrollment } = await server.services.enrollment.createToken('test');
    const agentDir = join(dir, 'result-agent');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, enrollment, agentDir, inventory({ hostname: 'result-agent' }));
    const logs: { msg: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
    // Each action waits 1.5 s before it runs: long enough to stop the database while it is in flight.
    const agent = new Agent(loadAgentConfig({ dataDir: agentDir, actionDelayMs: 1500, isolationWatchSeconds: 3600 }, {}), { logger, platform });
    await agent.start();
    try {
      await vi.waitFor(() => expect(server.gateway.isConnected(state.machineId)).toBe(true), { timeout: 10_000, interval: 20 });
      const submitted = await api('POST', `/api/machines/${state.machineId}/refreshInventory`, { Comment: 'finishes during the outage' });
      expect(submitted.status).toBe(201);
      const actionId = submitted.body.id as string;
      await vi.waitFor(async () => expect((await api('GET', `/api/machineactions/${actionId}`)).body.status).toBe('InProgress'), { timeout: 10_000, interval: 20 });

      await postgres.kill();
      // The agent finishes and sends its result; the node takes the frame but cannot store it.
      const journal = join(agentDir, 'journal', `${actionId}.json`);
      const entry = () => (existsSync(journal) ? (JSON.parse(readFileSync(journal, 'utf8')) as { state: string; reported: boolean }) : null);
      await vi.waitFor(() => expect(entry()?.state).toBe('done'), { timeout: 10_000, interval: 20 });
      await vi.waitFor(async () => expect(await server.app.inject({ method: 'GET', url: '/metrics' }).then((r) => r.body)).toMatch(/cordon_agent_frames_total\{type="result"\} 1/), { timeout: 5000, interval: 20 });
      // Not acknowledged while it is not stored: the agent still holds it.
      expect(entry()?.reported).toBe(false);

      await postgres.start();
      await vi.waitFor(async () => expect((await api('GET', `/api/machineactions/${actionId}`)).body).toMatchObject({ status: 'Succeeded', result: { hostname: expect.any(String) } }), { timeout: 20_000, interval: 200 });
      await vi.waitFor(() => expect(entry()?.reported).toBe(true), { timeout: 10_000, interval: 50 });
      const timeline = (await api('GET', `/api/machines/${state.machineId}/timeline`)).body.value as { actionId: string | null; title: string }[];
      expect(timeline.filter((e) => e.actionId === actionId && /succeeded/.test(e.title))).toHaveLength(1);
      // The agent stayed on its connection the whole time.
      expect(logs.filter((l) => l.msg === 'disconnected; reconnecting')).toEqual([]);
      expect(server.gateway.isConnected(state.machineId)).toBe(true);
    } finally {
      await agent.stop();
    }
  });
});
