/**
 * Indicators from MDE's API to a real agent over the real gateway: the agent hears of each new
 * version (the content frame), fetches and verifies it; an agent that was offline through changes
 * gets the newest set when it reconnects and never goes back to an older one; an agent that does
 * not know the frame is never sent it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import WebSocket from 'ws';
import { Agent, ContentStore, currentPlatform, enroll, loadAgentConfig } from '@cordon/agent';
import { CONTENT_CAPABILITY, PROTOCOL_VERSION, type SignedManifest } from '@cordon/protocol';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let agentUrl: string;
let dir: string;
const agents: Agent[] = [];
const sockets: WebSocket[] = [];
beforeEach(async () => {
  h = await startHarness();
  agentUrl = (await h.server.listen()).agentUrl;
  dir = mkdtempSync(join(tmpdir(), 'cordon-indicators-agent-'));
});
afterEach(async () => {
  for (const s of sockets.splice(0)) s.terminate();
  for (const a of agents.splice(0)) await a.stop();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

/** This machine's firewall is never asked or touched. */
const platform = {
  ...currentPlatform(),
  firewall: { check: async () => ({ ok: true as const, version: 'test' }), apply: async () => {}, remove: async () => {}, active: async () => false },
  releasePrograms: async () => {},
};

const block = (value: string) => ({ IndicatorValue: value, IndicatorType: 'IpAddress', Action: 'Block', Title: `block ${value}` });

async function startAgent(agentDir: string): Promise<Agent> {
  const agent = new Agent(loadAgentConfig({ dataDir: agentDir, reconnectMaxSeconds: 1, isolationWatchSeconds: 3600 }, {}), { logger: pino({ level: 'silent' }), platform });
  agents.push(agent);
  await agent.start();
  return agent;
}

const wait = (check: () => void | Promise<void>) => vi.waitFor(check, { timeout: 10_000, interval: 25 });

describe('indicators reach a real agent', () => {
  it('as each version is published, after an offline spell on reconnect, and never an older one', async () => {
    const agentDir = join(dir, 'agent');
    const { token } = await h.server.services.enrollment.createToken('test');
    const { machineId, signingPublicKeyPem } = await enroll(agentUrl, token, agentDir, inventory({ hostname: 'indicators' }));
    let agent = await startAgent(agentDir);
    await wait(() => expect(h.server.gateway.isConnected(machineId)).toBe(true));
    expect(agent.indicators.version).toBeNull();

    // Published while connected: told by the content frame, fetched, verified, in use.
    const first = (await h.call('POST', '/api/indicators', { body: block('203.0.113.7') })).body;
    await wait(() => expect(agent.indicators.active().map((e) => e.value)).toEqual(['203.0.113.7']));
    expect(agent.indicators.version).toBe(1);
    const v1 = (await h.server.services.content.latest('indicators', 'default'))!.signed;

    // Offline while the set changes twice.
    await agent.stop();
    agents.splice(agents.indexOf(agent), 1);
    await wait(() => expect(h.server.gateway.isConnected(machineId)).toBe(false));
    await h.call('POST', '/api/indicators', { body: block('198.51.100.9') });
    expect((await h.call('DELETE', `/api/indicators/${first.id}`)).status).toBe(204);
    expect((await h.server.services.content.latest('indicators', 'default'))!.manifest.version).toBe(3);

    // Restarted: what it had is in force at once; the newest set follows on reconnect.
    agent = await startAgent(agentDir);
    expect(agent.indicators.version).toBeGreaterThanOrEqual(1);
    await wait(() => expect([agent.indicators.version, agent.indicators.active().map((e) => e.value)]).toEqual([3, ['198.51.100.9']]));

    // The server's own signed v1, served again (a replay, a stale node): refused, v3 stays.
    const replay = new ContentStore(agentDir, signingPublicKeyPem, {
      manifest: async (): Promise<SignedManifest> => v1,
      // eslint-disable-next-line require-yield
      bytes: async function* () {
        throw new Error('the bytes of a version refused by its manifest are never fetched');
      },
    });
    expect(await replay.update('indicators', 'default')).toMatchObject({ status: 'refused', reason: 'NotNewer', kept: { version: 3 } });
    expect(replay.load('indicators', 'default')?.manifest.version).toBe(3);
  });
});

describe('the content frame', () => {
  /** A raw agent connection saying hello with `capabilities`; answers the frames it receives. */
  async function rawAgent(hostname: string, capabilities: string[]) {
    const { token } = await h.server.services.enrollment.createToken('test');
    const inv = inventory({ hostname, capabilities: capabilities.map((name) => ({ name, version: '1' })) });
    const state = await enroll(agentUrl, token, join(dir, hostname), inv);
    const ws = new WebSocket(`${agentUrl.replace('https:', 'wss:')}/agent/v1`, { ca: state.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization: `Bearer ${state.machineId}.${state.credential}` } });
    sockets.push(ws);
    const frames: { type: string; [k: string]: unknown }[] = [];
    ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as { type: string }));
    await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject));
    ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inv }));
    await wait(() => expect(frames.some((f) => f.type === 'welcome')).toBe(true));
    return { ws, frames, content: () => frames.filter((f) => f.type === 'content') };
  }

  it('goes at hello and at each publication to agents that know it, and never to older agents', async () => {
    const older = await rawAgent('older', ['inventory']);
    const newer = await rawAgent('newer', ['inventory', CONTENT_CAPABILITY]);
    expect(newer.content()).toEqual([]);
    await h.call('POST', '/api/indicators', { body: block('203.0.113.7') });
    await wait(() => expect(newer.content()).toEqual([{ type: 'content', kind: 'indicators', name: 'default', version: 1 }]));
    // A newcomer is told of the newest version at hello.
    const later = await rawAgent('later', [CONTENT_CAPABILITY]);
    // Right after its welcome (the newest version is looked up once the hello is taken: on
    // PostgreSQL it can arrive a moment after the welcome has been read).
    await wait(() => expect(later.frames.map((f) => f.type)).toEqual(['welcome', 'content']));
    expect(later.content()).toEqual([{ type: 'content', kind: 'indicators', name: 'default', version: 1 }]);
    await h.call('POST', '/api/indicators', { body: block('203.0.113.8') });
    await wait(() => expect(newer.content().map((f) => f.version)).toEqual([1, 2]));
    // The older agent heard nothing it does not know, and is still connected.
    expect(older.content()).toEqual([]);
    expect(older.ws.readyState).toBe(WebSocket.OPEN);
  });
});
