import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Agent, currentPlatform, enroll, loadAgentConfig, rankServers } from '@cordon/agent';
import { loadServerConfig } from '../config.js';
import { createCordonServer, type CordonServer } from '../server.js';
import { inventory } from '../testing/harness.js';
import { tcpProxy } from '../testing/proxy.js';
import { createTestDatabase, dropTestDatabase } from '../testing/stores.js';

/**
 * A real agent enrolled with the URLs of two server nodes on one PostgreSQL store and one data
 * directory: it connects to its home node, moves to the other when home stops, and goes back
 * once home is started again (after its return-home wait, short here).
 */
let dir: string;
let databaseUrl: string;
let token: string;
const nodes: CordonServer[] = [];
let agent: Agent | undefined;

async function startNode(agentPort = 0, storeUrl = databaseUrl): Promise<{ server: CordonServer; url: string }> {
  const config = loadServerConfig({ dataDir: join(dir, 'shared'), databaseUrl: storeUrl, host: '127.0.0.1', port: 0, agentHost: '127.0.0.1', agentPort, logLevel: 'silent' }, {});
  const server = await createCordonServer(config, { logger: pino({ level: 'silent' }) });
  const listening = await server.listen();
  nodes.push(server);
  return { server, url: `https://127.0.0.1:${listening.agentPort}` };
}

async function stopNode(server: CordonServer): Promise<void> {
  nodes.splice(nodes.indexOf(server), 1);
  await server.close();
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-failover-'));
  databaseUrl = await createTestDatabase('failover');
});
afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  await Promise.all(nodes.splice(0).map((n) => n.close()));
  await dropTestDatabase(databaseUrl);
  rmSync(dir, { recursive: true, force: true });
});

const api = async (server: CordonServer, method: 'GET' | 'POST', url: string, body?: unknown) => {
  const r = await server.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, payload: body ? JSON.stringify(body) : undefined });
  return { status: r.statusCode, body: r.json() };
};

/** This machine's firewall is never asked or touched: other tests on the host may be isolating. */
const platform = {
  ...currentPlatform(),
  firewall: { check: async () => ({ ok: true as const, version: 'test' }), apply: async () => {}, remove: async () => {}, active: async () => false },
  releasePrograms: async () => {},
};

/** Submits a refresh on `server` and waits until the agent has run it. */
async function refreshCompletes(server: CordonServer, machineId: string, comment: string): Promise<void> {
  const submitted = await api(server, 'POST', `/api/machines/${machineId}/refreshInventory`, { Comment: comment });
  expect(submitted.status).toBe(201);
  await vi.waitFor(async () => expect((await api(server, 'GET', `/api/machineactions/${submitted.body.id}`)).body.status).toBe('Succeeded'), { timeout: 10_000, interval: 50 });
}

describe('an agent enrolled with two nodes', () => {
  it('moves to the other node when its home stops, and back home once home is started again', async () => {
    const first = await startNode();
    token = first.server.initialAdminToken!;
    const second = await startNode();
    const { token: enrollment } = await first.server.services.enrollment.createToken('test');
    const agentDir = join(dir, 'agent');
    const state = await enroll([first.url, second.url], enrollment, agentDir, inventory({ hostname: 'failover' }));
    expect(state.serverUrls).toEqual([first.url, second.url]);
    const { machineId } = state;
    const homeUrl = rankServers(machineId, state.serverUrls)[0]!;
    const [home, other] = homeUrl === first.url ? [first.server, second.server] : [second.server, first.server];

    const logs: { msg: string; server?: string }[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
    agent = new Agent(loadAgentConfig({ dataDir: agentDir, reconnectMaxSeconds: 2, returnHomeSeconds: 1, isolationWatchSeconds: 3600 }, {}), { logger, platform });
    await agent.start();
    await vi.waitFor(() => expect(home.gateway.isConnected(machineId)).toBe(true), { timeout: 10_000, interval: 20 });
    expect(other.gateway.isConnected(machineId)).toBe(false);

    // Home stops: within a few seconds the agent is on the other node, and runs what is submitted there.
    await stopNode(home);
    const stopped = Date.now();
    await vi.waitFor(() => expect(other.gateway.isConnected(machineId)).toBe(true), { timeout: 5000, interval: 20 });
    expect(Date.now() - stopped).toBeLessThan(5000);
    await refreshCompletes(other, machineId, 'while home is down');
    // Home is asked every 0.25–1 s here, and does not answer: the agent stays where it is.
    const movingBack = () => logs.filter((l) => l.msg === 'the home server answers again; moving back to it').length;
    const disconnects = logs.filter((l) => l.msg === 'disconnected; reconnecting').length;
    await new Promise((r) => setTimeout(r, 2500));
    expect([movingBack(), logs.filter((l) => l.msg === 'disconnected; reconnecting').length]).toEqual([0, disconnects]);
    expect(other.gateway.isConnected(machineId)).toBe(true);

    // A fresh node on home's port: the agent finds it answering after its random wait and goes back.
    const restarted = await startNode(Number(new URL(homeUrl).port));
    await vi.waitFor(() => expect(restarted.server.gateway.isConnected(machineId)).toBe(true), { timeout: 10_000, interval: 20 });
    await vi.waitFor(() => expect(other.gateway.isConnected(machineId)).toBe(false), { timeout: 5000, interval: 20 });
    expect(movingBack()).toBe(1);
    // Submitted on the node it left, the action reaches it at home.
    await refreshCompletes(other, machineId, 'back home');
  });

  it('does not move back to a home node that cannot reach its store, and does once it can', async () => {
    // Each node reaches the store through a proxy of its own, so that one can lose it alone.
    const pgPort = Number(new URL(databaseUrl).port);
    const proxies = [await tcpProxy({ target: () => pgPort }), await tcpProxy({ target: () => pgPort })];
    try {
      const via = (p: { port: number }) => Object.assign(new URL(databaseUrl), { port: String(p.port) }).toString();
      const first = await startNode(0, via(proxies[0]!));
      token = first.server.initialAdminToken!;
      const second = await startNode(0, via(proxies[1]!));
      const { token: enrollment } = await first.server.services.enrollment.createToken('test');
      const agentDir = join(dir, 'agent');
      const state = await enroll([first.url, second.url], enrollment, agentDir, inventory({ hostname: 'degraded-home' }));
      const { machineId } = state;
      const homeUrl = rankServers(machineId, state.serverUrls)[0]!;
      const [home, homeStore, other] = homeUrl === first.url ? [first.server, proxies[0]!, second.server] : [second.server, proxies[1]!, first.server];

      // Home loses its store before the agent starts: it cannot check the agent's credential, and says it is degraded.
      homeStore.down(true);
      await vi.waitFor(async () => expect(await healthz(homeUrl, state.caCertPem)).toEqual({ status: 503, body: { status: 'degraded' } }), { timeout: 5000, interval: 100 });
      const logs: { msg: string }[] = [];
      const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as { msg: string }) });
      agent = new Agent(loadAgentConfig({ dataDir: agentDir, reconnectMaxSeconds: 2, returnHomeSeconds: 1, isolationWatchSeconds: 3600 }, {}), { logger, platform });
      await agent.start();
      await vi.waitFor(() => expect(other.gateway.isConnected(machineId)).toBe(true), { timeout: 10_000, interval: 20 });
      // Home is asked every 0.25–1 s and answers 503: the agent stays where it is.
      const movingBack = () => logs.filter((l) => l.msg === 'the home server answers again; moving back to it').length;
      await new Promise((r) => setTimeout(r, 2500));
      expect(movingBack()).toBe(0);
      expect(other.gateway.isConnected(machineId)).toBe(true);
      await refreshCompletes(other, machineId, 'while home is degraded');

      // Home reaches its store again: the agent goes back.
      homeStore.down(false);
      await vi.waitFor(() => expect(home.gateway.isConnected(machineId)).toBe(true), { timeout: 10_000, interval: 20 });
      expect(movingBack()).toBe(1);
      expect(await healthz(homeUrl, state.caCertPem)).toEqual({ status: 200, body: { status: 'ok' } });
    } finally {
      for (const p of proxies) p.close();
    }
  });
});

/** The agent port's /healthz, as an agent asks it. */
function healthz(url: string, ca: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request(new URL('/healthz', url), { ca, checkServerIdentity: () => undefined, agent: false }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown }));
    });
    req.on('error', reject);
    req.end();
  });
}
