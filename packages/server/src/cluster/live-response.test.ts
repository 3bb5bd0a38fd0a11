import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Agent, enroll } from '@cordon/agent';
import { loadServerConfig } from '../config.js';
import { createCordonServer, type CordonServer } from '../server.js';
import { inventory } from '../testing/harness.js';
import { testAgent } from '../testing/real-agent.js';
import { createTestDatabase, dropTestDatabase } from '../testing/stores.js';

/**
 * A live-response session driven through node B for an agent held by node A, on one PostgreSQL
 * store and data directory: nothing of the session lives in either node's memory alone. B signs
 * the lines and relays them over the bus; A sends them and stores the output; B's followers read it
 * from the store; the file the agent sends to A is downloaded from B, and Tab completions asked on
 * B come back from A through the store.
 */
let dir: string;
let databaseUrl: string;
const nodes: { server: CordonServer; apiUrl: string; agentUrl: string }[] = [];
const agents: Agent[] = [];

/** The device groups' shell setting, for every node (a test's policy). */
const allowShell = { allowsShell: () => Promise.resolve(true) };

async function node() {
  const config = loadServerConfig({ dataDir: join(dir, 'shared'), databaseUrl, host: '127.0.0.1', port: 0, agentHost: '127.0.0.1', agentPort: 0, logLevel: 'silent' }, {});
  const server = await createCordonServer(config, { logger: pino({ level: 'silent' }), liveShellPolicy: allowShell });
  const n = { server, ...(await server.listen()) };
  nodes.push(n);
  return n;
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-cluster-live-'));
  databaseUrl = await createTestDatabase('live');
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await Promise.all(nodes.splice(0).map((n) => n.server.close()));
  await dropTestDatabase(databaseUrl);
  rmSync(dir, { recursive: true, force: true });
});

const wait = (check: () => void | Promise<void>, timeout = 20_000) => vi.waitFor(check, { timeout, interval: 50 });

describe('live response on two nodes', () => {
  it('lets an analyst on node B drive an agent held by node A, follow it, complete paths on it and download its file', async () => {
    const a = await node();
    const admin = a.server.initialAdminToken!;
    const b = await node();
    const analyst = await a.server.services.auth.createToken('analyst', 'analyst-b', 'test');
    const { token } = await a.server.services.enrollment.createToken('test');
    // The agent knows node A only: A holds it.
    const state = await enroll(a.agentUrl, token, join(dir, 'agent'), inventory({ hostname: 'held-by-a' }));
    const agent = testAgent(join(dir, 'agent'));
    agents.push(agent);
    await agent.start();
    await wait(() => expect(a.server.gateway.isConnected(state.machineId)).toBe(true));
    await wait(async () => expect((await b.server.services.machines.get(state.machineId)).isConnected).toBe(true));
    expect(b.server.gateway.isConnected(state.machineId)).toBe(false);

    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${b.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${analyst}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: (await res.json()) as any };
    };
    const opened = await call('POST', `/api/machines/${state.machineId}/liveResponseSessions`, { Comment: 'IR-12 from node B' });
    expect(opened.status).toBe(201);
    const id = opened.body.id as string;
    await wait(async () => expect((await call('GET', `/api/liveResponseSessions/${id}`)).body.state).toBe('Active'));

    // A follower on B, from the start.
    const ac = new AbortController();
    const stream = await fetch(`${b.apiUrl}/api/liveResponseSessions/${id}/stream`, { headers: { authorization: `Bearer ${analyst}` }, signal: ac.signal });
    const reader = stream.body!.getReader();
    let seen = '';
    void (async () => {
      for (;;) {
        const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
        if (done) return;
        seen += new TextDecoder().decode(value);
      }
    })();

    const payload = randomBytes(3 * 1024 * 1024);
    writeFileSync(join(dir, 'loot.bin'), payload);
    for (const line of [`cd ${dir}`, 'pwd', 'getfile loot.bin']) expect((await call('POST', `/api/liveResponseSessions/${id}/commands`, { Line: line })).status).toBe(202);
    await wait(async () => {
      const t = (await call('GET', `/api/liveResponseSessions/${id}/transcript`)).body as { commands: { status: string; output: string }[] };
      expect(t.commands.map((c) => c.status)).toEqual(['Succeeded', 'Succeeded', 'Succeeded']);
      expect(t.commands[1]!.output).toBe(`${dir}\n`);
    });
    await wait(() => expect(seen.match(/event: done/g)?.length).toBe(3));
    expect(seen).toContain(JSON.stringify({ seq: 2, text: `${dir}\n` }));
    ac.abort();

    // Lines typed through either node (behind a load balancer) take the session's next number:
    // B remembers 4 as its next, A takes 4 meanwhile, so B's 4 is refused and B reads the number again.
    const viaA = await fetch(`${a.apiUrl}/api/liveResponseSessions/${id}/commands`, { method: 'POST', headers: { authorization: `Bearer ${analyst}`, 'content-type': 'application/json' }, body: JSON.stringify({ Line: 'pwd' }) });
    expect(((await viaA.json()) as { seq: number }).seq).toBe(4);
    expect((await call('POST', `/api/liveResponseSessions/${id}/commands`, { Line: 'pwd' })).body.seq).toBe(5);
    await wait(async () => {
      const t = (await call('GET', `/api/liveResponseSessions/${id}/transcript`)).body as { commands: { status: string }[] };
      expect(t.commands.map((c) => c.status)).toEqual(['Succeeded', 'Succeeded', 'Succeeded', 'Succeeded', 'Succeeded']);
    });

    // Tab completion asked on B is answered by the agent A holds, in the session's directory, even
    // when the answer is far bigger than a bus message may be (it comes back through the store).
    mkdirSync(join(dir, 'many'));
    for (let i = 0; i < 150; i++) writeFileSync(join(dir, 'many', `evidence-${String(i).padStart(3, '0')}-${'x'.repeat(60)}`), '');
    const lo = await call('POST', `/api/liveResponseSessions/${id}/complete`, { Path: 'lo' });
    expect(lo).toEqual({ status: 200, body: { base: '', entries: [{ name: 'loot.bin', type: 'file' }], truncated: false, error: null } });
    const many = await call('POST', `/api/liveResponseSessions/${id}/complete`, { Path: 'many/ev' });
    expect(many.status).toBe(200);
    expect(many.body.entries).toHaveLength(150);
    expect(JSON.stringify(many.body).length).toBeGreaterThan(8000);

    const files = (await call('GET', `/api/liveResponseSessions/${id}/files`)).body.value as { id: string; sha256: string }[];
    const want = createHash('sha256').update(payload).digest('hex');
    expect(files).toEqual([expect.objectContaining({ sha256: want })]);
    const dl = await fetch(`${b.apiUrl}/api/liveResponseSessions/${id}/files/${files[0]!.id}/content`, { headers: { authorization: `Bearer ${analyst}` } });
    expect(createHash('sha256').update(Buffer.from(await dl.arrayBuffer())).digest('hex')).toBe(want);

    // Ended from B too; the action's end is in the store for both nodes.
    expect((await call('POST', `/api/liveResponseSessions/${id}/end`, { Comment: 'done' })).status).toBe(200);
    await wait(async () => {
      const r = await a.server.app.inject({ method: 'GET', url: `/api/machineactions/${id}`, headers: { authorization: `Bearer ${admin}` } });
      expect(r.json()).toMatchObject({ status: 'Succeeded', result: { endReason: 'Ended', commands: 5 } });
    });
  });

  it("relays a shell's keystrokes from node B, in order, to the agent node A holds", async () => {
    const a = await node();
    const b = await node();
    const responder = await a.server.services.auth.createToken('responder', 'responder-b', 'test');
    const { token } = await a.server.services.enrollment.createToken('test');
    const state = await enroll(a.agentUrl, token, join(dir, 'agent'), inventory({ hostname: 'held-by-a' }));
    const agent = testAgent(join(dir, 'agent'));
    agents.push(agent);
    await agent.start();
    await wait(() => expect(a.server.gateway.isConnected(state.machineId)).toBe(true));
    await wait(async () => expect((await b.server.services.machines.get(state.machineId)).isConnected).toBe(true));
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${b.apiUrl}${path}`, { method, headers: { authorization: `Bearer ${responder}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
      return { status: res.status, body: (await res.json()) as any };
    };
    const id = (await call('POST', `/api/machines/${state.machineId}/liveResponseSessions`, { Comment: 'IR-12 shell from node B' })).body.id as string;
    await wait(async () => expect((await call('GET', `/api/liveResponseSessions/${id}`)).body.state).toBe('Active'));
    const shell = await call('POST', `/api/liveResponseSessions/${id}/commands`, { Line: 'shell' });
    expect(shell.status).toBe(202);
    const seq = shell.body.seq as number;
    // Sent one after another, without waiting for the shell: they must arrive, and be typed, in order.
    for (const data of ['echo $((6', '*7))', '-done\r']) expect((await call('POST', `/api/liveResponseSessions/${id}/commands/${seq}/input`, { Data: data })).status).toBe(202);
    const transcript = async () => ((await call('GET', `/api/liveResponseSessions/${id}/transcript`)).body.commands as { seq: number; status: string; exitStatus: number; output: string }[]).find((c) => c.seq === seq)!;
    await wait(async () => expect((await transcript()).output).toMatch(/\r42-done\r\n/), 30_000);
    expect((await call('POST', `/api/liveResponseSessions/${id}/commands/${seq}/input`, { Data: 'exit\r' })).status).toBe(202);
    await wait(async () => expect(await transcript()).toMatchObject({ status: 'Succeeded', exitStatus: 0 }), 30_000);
  });
});
