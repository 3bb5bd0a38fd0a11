import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { enroll } from '@cordon/agent';
import { PROTOCOL_VERSION } from '@cordon/protocol';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let agentDir: string;
beforeEach(async () => {
  h = await startHarness();
  agentDir = mkdtempSync(join(tmpdir(), 'cordon-agent-'));
});
afterEach(async () => {
  await h.close();
  rmSync(agentDir, { recursive: true, force: true });
});

/** Waits (up to 5 s) until `fn` holds. */
const until = (fn: () => Promise<boolean>) => vi.waitFor(async () => expect(await fn()).toBe(true), { timeout: 5000, interval: 20 });

/** An agent's connection: says hello and stays until the server goes. */
function connect(agentPort: number, state: { machineId: string; credential: string; caCertPem: string }): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`wss://127.0.0.1:${agentPort}/agent/v1`, {
      ca: state.caCertPem,
      checkServerIdentity: (() => undefined) as unknown as () => boolean,
      headers: { authorization: `Bearer ${state.machineId}.${state.credential}` },
    });
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventory() })));
    ws.on('message', (data) => {
      if ((JSON.parse(String(data)) as { type: string }).type === 'welcome') resolve(ws);
    });
    ws.on('error', reject);
  });
}

const connectionEvents = async (machineId: string) =>
  ((await h.call('GET', `/api/machines/${machineId}/timeline?eventType=AgentOnline,AgentOffline`)).body.value as { eventType: string; time: string }[]).map((e) => [e.eventType, e.time]);

describe('the timeline across a server restart', () => {
  it('records the agent offline from when it was last seen until it reconnects, once', async () => {
    let { agentPort } = await h.server.listen();
    const { token } = await h.server.services.enrollment.createToken('test');
    const state = await enroll(`https://127.0.0.1:${agentPort}`, token, agentDir, inventory());
    const t0 = h.clock.now().toISOString();
    let ws = await connect(agentPort, state);
    await until(async () => (await connectionEvents(state.machineId)).length === 1);
    // A heartbeat a minute later is the last the old server sees of the agent.
    h.clock.advance(60_000);
    ws.send(JSON.stringify({ type: 'heartbeat', seq: 1 }));
    await until(async () => {
      await h.server.services.machines.flushSeen();
      return (await h.server.services.machines.get(state.machineId)).lastSeen > t0;
    });
    const lastSeen = h.clock.now().toISOString();

    // The server goes away (a shutdown records nothing: it is not the agent leaving) and comes back 5 minutes later.
    h.clock.advance(300_000);
    await h.restart();
    ({ agentPort } = await h.server.listen());
    expect(await connectionEvents(state.machineId)).toEqual([
      ['AgentOffline', lastSeen],
      ['AgentOnline', t0],
    ]);
    ws.terminate();
    const back = h.clock.now().toISOString();
    ws = await connect(agentPort, state);
    await until(async () => (await connectionEvents(state.machineId)).length === 3);
    expect(await connectionEvents(state.machineId)).toEqual([
      ['AgentOnline', back],
      ['AgentOffline', lastSeen],
      ['AgentOnline', t0],
    ]);
    ws.close();
    await until(async () => (await connectionEvents(state.machineId)).length === 4);

    // A restart after the agent left cleanly adds nothing: its offline event is there already.
    await h.restart();
    await h.server.listen();
    expect((await connectionEvents(state.machineId)).map(([type]) => type)).toEqual(['AgentOffline', 'AgentOnline', 'AgentOffline', 'AgentOnline']);
  });
});
