/**
 * Several nodes for real (issue 14): two `cordon server` processes on one PostgreSQL database and
 * one data directory, and two real agents on this machine enrolled with both nodes' URLs. Actions
 * submitted on either node reach agents held by the other within a second; SIGKILL of the node
 * holding an agent moves it to the other node, and every accepted action completes exactly once
 * (the agent's journal and the timeline say so). Traffic stays on loopback.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabase } from '../packages/server/src/testing/stores.js';
import { cleanup, cordon, CordonProcess, freePort, tempDir, until } from './helpers.js';

interface Node {
  process: CordonProcess;
  api: string;
  agentUrl: string;
}

const dirs: string[] = [];
const processes: CordonProcess[] = [];
let databaseUrl: string;
let shared: string;
let token: string;
const nodes: Node[] = [];
const agents: { dir: string; machineId: string; process: CordonProcess }[] = [];

async function startNode(): Promise<Node> {
  const [port, agentPort] = [await freePort(), await freePort()];
  const process = new CordonProcess(['server', '--data-dir', shared, '--database-url', databaseUrl, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn' });
  processes.push(process);
  await process.line(/^agents: (\S+)$/m);
  return { process, api: `http://127.0.0.1:${port}`, agentUrl: `https://127.0.0.1:${agentPort}` };
}

async function api(node: Node, method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const r = await fetch(`${node.api}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  return { status: r.status, body: await r.json().catch(() => null) };
}

/** Which node holds each agent's connection, from the store. */
async function holders(): Promise<Map<string, number>> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const rows = (await client.query<{ machine_id: string; name: string }>('select c.machine_id, n.name from agent_connections c join server_nodes n on n.id = c.node_id where n.stopped_at is null')).rows;
    const pids = nodes.map((n) => n.process.child.pid);
    return new Map(rows.map((r) => [r.machine_id, pids.indexOf(Number(r.name.split('/').pop()))]));
  } finally {
    await client.end();
  }
}

async function timelineOf(node: Node, machineId: string, actionId: string): Promise<string[]> {
  const t = await api(node, 'GET', `/api/machines/${machineId}/timeline?$top=200`);
  return (t.body.value as { actionId: string | null; title: string }[]).filter((e) => e.actionId === actionId).map((e) => e.title);
}

beforeAll(async () => {
  databaseUrl = await createTestDatabase('e2e_nodes');
  shared = tempDir('nodes-shared');
  dirs.push(shared);
  nodes.push(await startNode());
  token = await nodes[0]!.process.line(/^admin token: (\S+)$/m);
  nodes.push(await startNode());
  expect(nodes[1]!.process.stdout).not.toMatch(/admin token/);
  const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', shared, '--database-url', databaseUrl])).stdout.trim();
  for (let i = 0; i < 2; i++) {
    const dir = tempDir(`nodes-agent-${i}`);
    dirs.push(dir);
    const enrolled = await cordon(['agent', 'enroll', '--server', nodes.map((n) => n.agentUrl).join(','), '--token', enrollment, '--data-dir', dir]);
    expect(enrolled.code, enrolled.stderr).toBe(0);
    const machineId = /machine ([0-9a-f]{40})/.exec(enrolled.stdout)![1]!;
    const process = new CordonProcess(['agent', 'run', '--data-dir', dir], { CORDON_AGENT_LOG_LEVEL: 'warn' });
    processes.push(process);
    agents.push({ dir, machineId, process });
  }
  await until('both agents connected', async () => (await holders()).size === 2, 30_000);
}, 120_000);

afterAll(async () => {
  for (const p of processes) await p.kill('SIGKILL');
  cleanup(dirs);
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

describe('two nodes on one PostgreSQL', () => {
  it('deliver an action submitted on either node to an agent on the other within a second', async () => {
    const held = await holders();
    for (const agent of agents) {
      const other = nodes[1 - held.get(agent.machineId)!]!;
      const r = await api(other, 'POST', `/api/machines/${agent.machineId}/refreshInventory`, { Comment: 'submitted on the node that does not hold it' });
      expect(r.status).toBe(201);
      const done = await until('the action to succeed', async () => ((await api(other, 'GET', `/api/machineactions/${r.body.id}`)).body.status === 'Succeeded' ? true : null), 20_000);
      expect(done).toBe(true);
      const events = (await api(other, 'GET', `/api/machines/${agent.machineId}/timeline?$top=200`)).body.value as { actionId: string | null; eventType: string; title: string; time: string }[];
      const submitted = events.find((e) => e.actionId === r.body.id && e.eventType === 'ActionSubmitted')!;
      const started = events.find((e) => e.actionId === r.body.id && /started on the device/.test(e.title))!;
      expect(Date.parse(started.time) - Date.parse(submitted.time)).toBeLessThan(1000);
    }
  });

  it('lose nothing when the node holding an agent is killed: the agent moves and every accepted action completes once', async () => {
    const held = await holders();
    const agent = agents[0]!;
    const victim = nodes[held.get(agent.machineId)!]!;
    const survivor = nodes[1 - held.get(agent.machineId)!]!;
    // Accepted by the node about to die, and by the survivor at the moment of the kill.
    const before = await api(victim, 'POST', `/api/machines/${agent.machineId}/refreshInventory`, { Comment: 'accepted by the node that dies' });
    expect(before.status).toBe(201);
    await victim.process.kill('SIGKILL');
    const during = await api(survivor, 'POST', `/api/machines/${agent.machineId}/refreshInventory`, { Comment: 'submitted while its node is dead' });
    // The first may still be running on the agent; the second waits for it (one refresh at a time) or is refused as a duplicate.
    const ids = [before.body.id as string, ...(during.status === 201 ? [during.body.id as string] : [])];
    expect([201, 400]).toContain(during.status);
    await until('the agent to move to the surviving node', async () => ((await api(survivor, 'GET', `/api/machines/${agent.machineId}`)).body.isConnected ? true : null), 45_000);
    for (const id of ids) {
      await until(`action ${id} to succeed`, async () => ((await api(survivor, 'GET', `/api/machineactions/${id}`)).body.status === 'Succeeded' ? true : null), 45_000);
      const titles = await timelineOf(survivor, agent.machineId, id);
      // The ack may have gone to the node that died before it stored it: then the action went from
      // Pending to its result directly. Either way it ran once and ended once.
      expect(titles.filter((t) => /started on the device/.test(t)).length).toBeLessThanOrEqual(1);
      expect(titles.filter((t) => /succeeded/.test(t))).toHaveLength(1);
      const journal = JSON.parse(readFileSync(join(agent.dir, 'journal', `${id}.json`), 'utf8')) as { state: string; reported: boolean };
      expect(journal).toMatchObject({ state: 'done', reported: true });
    }
    // Still one Cordon: a new action on the survivor reaches the moved agent.
    const after = await api(survivor, 'POST', `/api/machines/${agent.machineId}/refreshInventory`, { Comment: 'after the move' });
    await until('the action after the move to succeed', async () => ((await api(survivor, 'GET', `/api/machineactions/${after.body.id}`)).body.status === 'Succeeded' ? true : null), 20_000);
  });
});
