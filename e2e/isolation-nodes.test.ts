/**
 * Isolation with several nodes (issue 14): an isolated device must still be able to fail over.
 * Two nodes share one PostgreSQL inside the server's namespace (on two addresses and two agent
 * ports); the agent is enrolled with both. Isolate, SIGKILL the node holding the agent: the agent
 * moves to the other node through the isolation rules, stays isolated, and the other node releases
 * it. Real nftables and real TCP in network namespaces, as e2e/isolation.test.ts.
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, dropTestDatabase, viaSocket } from '../packages/server/src/testing/stores.js';
import { CordonBed, NODES } from './cordon-bed.js';
import { until } from './helpers.js';
import { ADDR, type Peer } from './netns.js';

let databaseUrl: string;
let cb: CordonBed;
let device: Peer;

/** Each node's id (from its /api/health), in NODES order. */
let nodeIds: string[] = [];

/** Which node (index in NODES) holds the agent's connection, from the store; -1 if none. */
async function holder(): Promise<number> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const rows = (await client.query<{ node_id: string }>('select c.node_id from agent_connections c join server_nodes n on n.id = c.node_id where c.machine_id = $1 and n.stopped_at is null', [cb.machineId])).rows;
    return rows.length === 1 ? nodeIds.indexOf(rows[0]!.node_id) : -1;
  } finally {
    await client.end();
  }
}

beforeAll(async () => {
  databaseUrl = await createTestDatabase('e2e_iso_nodes');
  cb = new CordonBed('cn', { CORDON_AGENT_RECONNECT_MAX_SECONDS: '1', CORDON_AGENT_ISOLATION_CONFIRM_SECONDS: '5', CORDON_AGENT_ISOLATION_WATCH_SECONDS: '0.5' }, { nodes: 2, databaseUrl: viaSocket(databaseUrl) });
  await cb.start();
  nodeIds = await Promise.all(cb.apis.map(async (api) => (await api.request<{ node: { id: string } }>('GET', '/api/health')).node.id));
  device = cb.bed.peer(cb.bed.names.device);
  const outside = cb.bed.peer(cb.bed.names.outside);
  expect(await outside.ask(`listen ${ADDR.outside} 7000`)).toBe('listening');
}, 180_000);

afterAll(async () => {
  cb?.cleanup();
  if (databaseUrl) await dropTestDatabase(databaseUrl);
});

describe('isolation with two nodes', () => {
  it('keeps every node reachable: the isolated agent fails over when its node dies, stays isolated, and the other node releases it', async () => {
    const { home } = await until('the agent held by a node', async () => {
      const i = await holder();
      return i >= 0 ? { home: i } : null;
    }, 30_000);
    const other = 1 - home;
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');

    const isolated = await cb.api.waitFor((await cb.apis[other]!.request<{ id: string }>('POST', `/api/machines/${cb.machineId}/isolate`, { Comment: 'contain', IsolationType: 'Full' })).id, 60_000, () => undefined);
    expect(isolated.status).toBe('Succeeded');
    // Every node, the agent's home first.
    expect((isolated.result as { servers: unknown }).servers).toEqual([home, other].map((i) => ({ address: NODES[i]!.address, port: NODES[i]!.agentPort })));
    expect(await device.reaches(ADDR.outside, 7000)).toBe('rejected');
    // Only the agent's gateway ports are open on the nodes' addresses, not everything there.
    expect(await device.reaches(NODES[other]!.address, NODES[other]!.apiPort)).toBe('rejected');

    cb.servers[home]!.kill('SIGKILL');
    await new Promise((r) => cb.servers[home]!.once('exit', r));
    await until('the isolated agent to move to the other node', async () => ((await holder()) === other ? true : null), 60_000);
    // The node records that it holds the agent before the agent's hello is done (only then is it connected).
    const seen = await until('the other node to see it connected', async () => {
      const m = await cb.apis[other]!.request<{ isConnected: boolean; isolationState: string }>('GET', `/api/machines/${cb.machineId}`);
      return m.isConnected ? m : null;
    }, 30_000);
    expect(seen).toMatchObject({ isConnected: true, isolationState: 'Isolated' });
    expect(await device.reaches(ADDR.outside, 7000)).toBe('rejected');

    const released = await cb.apis[other]!.waitFor((await cb.apis[other]!.request<{ id: string }>('POST', `/api/machines/${cb.machineId}/unisolate`, { Comment: 'contained' })).id, 60_000, () => undefined);
    expect(released.status).toBe('Succeeded');
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    expect(cb.cordonTable()).toBe(false);
  }, 180_000);
});
