import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Readable } from 'node:stream';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { enroll, PackageUploader } from '@cordon/agent';
import { PROTOCOL_VERSION, type AgentFrame } from '@cordon/protocol';
import { loadServerConfig, type ServerConfigInput } from '../config.js';
import type { CordonEvent } from '../events.js';
import { createCordonServer, type CordonServer } from '../server.js';
import { inventory, zipOf } from '../testing/harness.js';
import { tcpProxy } from '../testing/proxy.js';
import { createTestDatabase, dropTestDatabase } from '../testing/stores.js';

/**
 * Two server nodes on one PostgreSQL store and one data directory, in this process: an agent
 * holds a connection to one of them, and everything done on the other reaches it.
 */
let dir: string;
let databaseUrl: string;
let a: CordonServer;
let b: CordonServer;
let token: string;
const nodes: { server: CordonServer; agentPort: number }[] = [];
const sockets: WebSocket[] = [];

async function startNode(extra: ServerConfigInput = {}): Promise<{ server: CordonServer; agentPort: number }> {
  const config = loadServerConfig({ dataDir: join(dir, 'shared'), databaseUrl, host: '127.0.0.1', port: 0, agentHost: '127.0.0.1', agentPort: 0, logLevel: 'silent', ...extra }, {});
  const server = await createCordonServer(config, { logger: pino({ level: 'silent' }) });
  const { agentPort } = await server.listen();
  const n = { server, agentPort };
  nodes.push(n);
  return n;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-cluster-'));
  databaseUrl = await createTestDatabase('cluster');
  const first = await startNode();
  a = first.server;
  token = a.initialAdminToken!;
  b = (await startNode()).server;
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  await Promise.all(nodes.splice(0).map((n) => n.server.close()));
  await dropTestDatabase(databaseUrl);
  rmSync(dir, { recursive: true, force: true });
});

const api = async (server: CordonServer, method: 'GET' | 'POST', url: string, body?: unknown) => {
  const r = await server.app.inject({ method, url, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, payload: body ? JSON.stringify(body) : undefined });
  return { status: r.statusCode, body: r.json() };
};

/** An enrolled device whose agent holds a connection to the node on `agentPort`. */
async function agentOn(agentPort: number, hostname: string) {
  const agentDir = join(dir, hostname);
  const { token: enrollment } = await a.services.enrollment.createToken('test');
  const state = await enroll(`https://127.0.0.1:${agentPort}`, enrollment, agentDir, inventory({ hostname }));
  const ws = new WebSocket(`wss://127.0.0.1:${agentPort}/agent/v1`, { ca: state.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization: `Bearer ${state.machineId}.${state.credential}` } });
  sockets.push(ws);
  const frames: any[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const send = (f: AgentFrame) => ws.send(JSON.stringify(f));
  send({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventory({ hostname }) });
  await vi.waitFor(() => expect(frames.some((f) => f.type === 'welcome')).toBe(true));
  const commands = () => frames.filter((f) => f.type === 'command').map((f) => JSON.parse(f.command.payload) as { actionId: string });
  return { machineId: state.machineId, frames, send, commands, closed };
}

describe('several nodes on one PostgreSQL store', () => {
  it('deliver an action submitted on one node to an agent held by the other within a second', async () => {
    const agent = await agentOn(nodes[0]!.agentPort, 'held-by-a');
    await vi.waitFor(async () => expect((await api(b, 'GET', `/api/machines/${agent.machineId}`)).body.isConnected).toBe(true));
    const started = Date.now();
    const submitted = await api(b, 'POST', `/api/machines/${agent.machineId}/refreshInventory`, { Comment: 'from node B' });
    expect(submitted.status).toBe(201);
    await vi.waitFor(() => expect(agent.commands().map((c) => c.actionId)).toContain(submitted.body.id), { timeout: 1000, interval: 10 });
    expect(Date.now() - started).toBeLessThan(1000);
    agent.send({ type: 'ack', actionId: submitted.body.id });
    agent.send({ type: 'result', actionId: submitted.body.id, status: 'Succeeded', error: null, result: null });
    await vi.waitFor(async () => expect((await api(b, 'GET', `/api/machineactions/${submitted.body.id}`)).body.status).toBe('Succeeded'));
    // Delivered once: the node that took the submission did not hold the agent and sent nothing itself.
    expect(agent.commands().filter((c) => c.actionId === submitted.body.id)).toHaveLength(1);

    // A bulk action from node B reaches agents on both nodes.
    const other = await agentOn(nodes[1]!.agentPort, 'held-by-b');
    const bulk = await api(b, 'POST', '/api/machineactions/bulk', { Type: 'RefreshInventory', MachineIds: [agent.machineId, other.machineId], Comment: 'everyone' });
    expect(bulk.status).toBe(201);
    for (const [x, action] of [[agent, bulk.body.value.find((v: { machineId: string }) => v.machineId === agent.machineId)], [other, bulk.body.value.find((v: { machineId: string }) => v.machineId === other.machineId)]] as const) {
      await vi.waitFor(() => expect(x.commands().map((c) => c.actionId)).toContain(action.id), { timeout: 5000, interval: 10 });
    }
  });

  it('say in /api/health which node answered and that it reaches the store', async () => {
    const ha = (await a.app.inject({ method: 'GET', url: '/api/health' })).json();
    const hb = (await b.app.inject({ method: 'GET', url: '/api/health' })).json();
    expect(ha).toMatchObject({ status: 'ok', database: { engine: 'postgres', reachable: true }, node: { id: expect.any(String), name: expect.stringMatching(/\/\d+$/) } });
    expect(hb.node.id).not.toBe(ha.node.id);
  });

  it("show on one node's live event stream what happened on the other", async () => {
    const seen: CordonEvent[] = [];
    const unsubscribe = b.hub.subscribe((e) => seen.push(e));
    const agent = await agentOn(nodes[0]!.agentPort, 'events');
    const submitted = await api(a, 'POST', `/api/machines/${agent.machineId}/refreshInventory`, { Comment: 'from node A' });
    await vi.waitFor(() => expect(seen).toContainEqual({ kind: 'action', actionId: submitted.body.id, machineId: agent.machineId, status: 'Pending' }), { timeout: 5000, interval: 10 });
    expect(seen).toContainEqual(expect.objectContaining({ kind: 'machine', machineId: agent.machineId }));
    unsubscribe();
  });

  it("show on either node the progress of a running action whose agent the other holds", async () => {
    const agent = await agentOn(nodes[0]!.agentPort, 'progress');
    const submitted = await api(b, 'POST', `/api/machines/${agent.machineId}/refreshInventory`, { Comment: 'watch it' });
    await vi.waitFor(() => expect(agent.commands().map((c) => c.actionId)).toContain(submitted.body.id));
    agent.send({ type: 'ack', actionId: submitted.body.id });
    agent.send({ type: 'progress', actionId: submitted.body.id, percent: 40, message: 'Collecting Processes (5/13)' });
    await vi.waitFor(async () => expect((await api(b, 'GET', `/api/machineactions/${submitted.body.id}`)).body.progress).toMatchObject({ percent: 40, message: 'Collecting Processes (5/13)' }));
  });

  it('end the connection of a device whose credential is revoked on the other node', async () => {
    const agent = await agentOn(nodes[0]!.agentPort, 'revoked');
    const r = await api(b, 'POST', `/api/machines/${agent.machineId}/revokeCredential`, { Comment: 'stolen laptop' });
    expect(r.status).toBe(200);
    expect(await agent.closed).toBe(4401);
  });

  it('catch up from the store on what was sent while a node was not listening', async () => {
    const agent = await agentOn(nodes[1]!.agentPort, 'missed');
    // Node B's listening connection is cut (as by a network blip or a database restart) ...
    await sql`select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query ilike 'LISTEN%'`.execute(a.db);
    // ... and the action submitted on node A at that moment reaches the agent anyway, without it reconnecting.
    const submitted = await api(a, 'POST', `/api/machines/${agent.machineId}/refreshInventory`, { Comment: 'while B was deaf' });
    await vi.waitFor(() => expect(agent.commands().map((c) => c.actionId)).toContain(submitted.body.id), { timeout: 10_000, interval: 50 });
    expect(agent.frames.filter((f) => f.type === 'welcome')).toHaveLength(1);
  });

  it('count one budget of requests and of failed sign-ins, whichever node is asked', async () => {
    const [c, d] = [(await startNode({ rateLimitPerMinute: 10 })).server, (await startNode({ rateLimitPerMinute: 10 })).server];
    const codes: number[] = [];
    for (let i = 0; i < 12; i++) codes.push((await api(i % 2 ? c : d, 'GET', '/api/machines')).status);
    expect(codes.slice(0, 10)).toEqual(Array(10).fill(200));
    expect(codes.slice(10)).toEqual([429, 429]);
    // Six wrong passwords spread over two nodes lock the account on both.
    const signIn = (server: CordonServer, password: string) => server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username: 'admin', password } });
    for (let i = 0; i < 6; i++) expect((await signIn(i % 2 ? a : b, 'wrong password!')).statusCode).toBe(401);
    const locked = await signIn(a, a.initialAdminPassword!);
    expect(locked.statusCode).toBe(429);
    expect((await signIn(b, a.initialAdminPassword!)).statusCode).toBe(429);
  });

  it('resume a package upload on the other node after a reconnect, and keep exactly the bytes sent', async () => {
    const { token: enrollment } = await a.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${nodes[0]!.agentPort}`, enrollment, join(dir, 'uploader'), inventory({ hostname: 'uploader', agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }] }));
    const action = await api(b, 'POST', `/api/machines/${state.machineId}/collectInvestigationPackage`, { Comment: 'triage' });
    expect(action.status).toBe(201);
    // An upload keeps one connection: the first, to one node, is cut mid-chunk (the second chunk);
    // the upload resumes over the next connection, which goes to the other node.
    const proxy = await tcpProxy({ target: (n) => nodes[n % 2]!.agentPort, cutAfter: (n) => (n === 1 ? 800 * 1024 : null) });
    try {
      const data = await zipOf(2 * 1024 * 1024 + 777);
      const uploader = new PackageUploader({ ...state, serverUrls: [`https://127.0.0.1:${proxy.port}`] }, { chunkBytes: 512 * 1024, backoffMs: { base: 10, max: 50 } });
      const r = await uploader.upload(action.body.id, Readable.from([data]));
      expect(r).toMatchObject({ size: data.length, sha256: createHash('sha256').update(data).digest('hex') });
      expect(proxy.cuts()).toBe(1);
      expect(proxy.connections()).toBeGreaterThanOrEqual(2);
      const stored = readFileSync(join(dir, 'shared', 'files', 'packages', `${action.body.id}.zip`));
      expect(stored.equals(data)).toBe(true);
    } finally {
      proxy.close();
    }
  });
});
