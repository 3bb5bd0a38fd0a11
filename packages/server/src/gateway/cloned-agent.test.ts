import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { enroll } from '@cordon/agent';
import { PROTOCOL_VERSION } from '@cordon/protocol';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

/**
 * A device credential copied to a second machine (a cloned VM, a stolen disk image) shows as two
 * live connections with one credential at once: the second is refused and the device is flagged.
 * A reconnect after the first connection died (its TCP half-open) is not a clone: it replaces it.
 */
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

type State = { caCertPem: string; machineId: string; credential: string };
async function enrolled(): Promise<State> {
  const { token } = await h.server.services.enrollment.createToken('test');
  return enroll(`https://127.0.0.1:${agentPort}`, token, agentDir, inventory());
}

/** A connection that said hello; `welcomed` tells whether the server answered welcome or closed it. */
async function hello(state: State): Promise<{ ws: WebSocket; welcomed: boolean; closed: Promise<number> }> {
  const ws = new WebSocket(`wss://127.0.0.1:${agentPort}/agent/v1`, { ca: state.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization: `Bearer ${state.machineId}.${state.credential}` } });
  ws.on('error', () => {});
  const closed = new Promise<number>((r) => ws.on('close', (code) => r(code)));
  await new Promise((r) => ws.once('open', r));
  const answer = Promise.race([new Promise<boolean>((r) => ws.once('message', () => r(true))), closed.then(() => false)]);
  ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventory() }));
  return { ws, welcomed: await answer, closed };
}

describe('a cloned agent (one credential used twice at once)', () => {
  it('refuses the second live connection, keeps the first, and flags the device', async () => {
    const state = await enrolled();
    const first = await hello(state);
    expect(first.welcomed).toBe(true);
    const second = await hello(state);
    expect(second.welcomed).toBe(false);
    expect(await second.closed).toBe(4409);
    expect(first.ws.readyState).toBe(WebSocket.OPEN);
    const m = (await h.call('GET', `/api/machines/${state.machineId}`)).body;
    expect(m).toMatchObject({ isConnected: true, credentialInUseTwiceAt: expect.any(String) });
    const tl = (await h.call('GET', `/api/machines/${state.machineId}/timeline`)).body.value as { eventType: string }[];
    expect(tl.filter((e) => e.eventType === 'CredentialInUseTwice')).toHaveLength(1);
    // The clone keeps trying: the device is flagged once, not once per attempt.
    expect((await hello(state)).welcomed).toBe(false);
    const again = (await h.call('GET', `/api/machines/${state.machineId}/timeline`)).body.value as { eventType: string }[];
    expect(again.filter((e) => e.eventType === 'CredentialInUseTwice')).toHaveLength(1);
    first.ws.close();
  });

  it('lets a reconnect replace a connection that died without closing', async () => {
    const state = await enrolled();
    const first = await hello(state);
    // The first connection stops reading (a dead link): it cannot answer the server's ping.
    (first.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const second = await hello(state);
    expect(second.welcomed).toBe(true);
    expect((await h.call('GET', `/api/machines/${state.machineId}`)).body).toMatchObject({ isConnected: true, credentialInUseTwiceAt: null });
    second.ws.close();
    first.ws.terminate();
  });
});
