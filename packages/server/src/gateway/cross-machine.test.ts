/**
 * An agent speaks only for its own device. Device B's agent, over its real connection, sends
 * progress, result and refused frames naming device A's action: nothing about A may change — not
 * the stored action, not the live events, not A's timeline. And a refusal by the right agent ends
 * the action as the README says (Failed, `CommandRefused` on the timeline, an audit record).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { enroll } from '@cordon/agent';
import { PROTOCOL_VERSION, type AgentFrame } from '@cordon/protocol';
import type { CordonEvent } from '../events.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let agentPort: number;
const dirs: string[] = [];
beforeEach(async () => {
  h = await startHarness();
  agentPort = (await h.server.listen()).agentPort;
});
afterEach(async () => {
  await h.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** An enrolled device whose agent is connected (hello sent) over the real gateway. */
async function connectedAgent(hostname: string) {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-xm-'));
  dirs.push(dir);
  const { token } = await h.server.services.enrollment.createToken('test');
  const state = await enroll(`https://127.0.0.1:${agentPort}`, token, dir, inventory({ hostname }));
  const ws = new WebSocket(`wss://127.0.0.1:${agentPort}/agent/v1`, { ca: state.caCertPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, headers: { authorization: `Bearer ${state.machineId}.${state.credential}` } });
  const frames: { type: string; actionId?: string }[] = [];
  ws.on('message', (d) => frames.push(JSON.parse(d.toString())));
  await new Promise<void>((resolve, reject) => {
    ws.once('open', () => resolve());
    ws.once('error', reject);
  });
  const send = (f: AgentFrame) => ws.send(JSON.stringify(f));
  send({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inventory({ hostname }) });
  await until(() => frames.some((f) => f.type === 'welcome'));
  return {
    machineId: state.machineId,
    frames,
    send,
    /** Waits for the server's resultAck of an action id (it answers results and refusals, even foreign ones). */
    resultAcks: (actionId: string) => frames.filter((f) => f.type === 'resultAck' && f.actionId === actionId).length,
    close: () => ws.close(),
  };
}

async function until(fn: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(fn()).toBe(true);
}

async function eventually(fn: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await fn()); i++) await new Promise((r) => setTimeout(r, 10));
  expect(await fn()).toBe(true);
}

const refresh = async (machineId: string) => (await h.call('POST', `/api/machines/${machineId}/refreshInventory`, { body: { Comment: 'check inventory' } })).body as { id: string };
const action = async (id: string) => (await h.call('GET', `/api/machineactions/${id}`)).body;
const timeline = async (machineId: string) => (await h.call('GET', `/api/machines/${machineId}/timeline`)).body.value as { eventType: string; actionId: string | null; title: string }[];

describe("frames about another device's action", () => {
  for (const startState of ['Pending', 'InProgress'] as const) {
    it(`change nothing of device A's ${startState} action when device B sends them: stored state, live events, timeline`, async () => {
      const a = await connectedAgent('device-a');
      const b = await connectedAgent('device-b');
      const act = await refresh(a.machineId);
      if (startState === 'InProgress') {
        a.send({ type: 'ack', actionId: act.id });
        await eventually(async () => (await action(act.id)).status === 'InProgress');
      }
      const before = { action: await action(act.id), timeline: await timeline(a.machineId), audit: (await h.call('GET', '/api/audit')).body.value.length };
      const events: CordonEvent[] = [];
      const off = h.server.hub.subscribe((e) => void events.push(e));

      b.send({ type: 'progress', actionId: act.id, percent: 99, message: 'forged progress' });
      b.send({ type: 'result', actionId: act.id, status: 'Succeeded', error: null, result: { forged: true } });
      b.send({ type: 'refused', actionId: act.id, reason: 'BadSignature', detail: 'forged refusal' });
      b.send({ type: 'result', actionId: act.id, status: 'Failed', error: 'forged failure', result: null });
      // The server answers results and refusals (so an outbox drains) once it has handled them, in order.
      await until(() => b.resultAcks(act.id) === 3);
      off();

      expect(await action(act.id)).toEqual(before.action);
      expect(await timeline(a.machineId)).toEqual(before.timeline);
      expect(events.filter((e) => ('machineId' in e && e.machineId === a.machineId) || ('actionId' in e && e.actionId === act.id))).toEqual([]);
      // B's refusal is B's own record (its timeline, the audit log), never linked to A's action.
      const bTimeline = await timeline(b.machineId);
      expect(bTimeline.filter((e) => e.actionId === act.id)).toEqual([]);
      expect(bTimeline.find((e) => e.eventType === 'CommandRefused')).toMatchObject({ actionId: null });
      expect((await h.call('GET', '/api/audit')).body.value.length).toBe(before.audit + 1);
      const listed = (await h.call('GET', `/api/machineactions?$filter=${encodeURIComponent(`machineId eq '${a.machineId}'`)}`)).body.value;
      // The list is the single read less its history (stateChanges is for single-action reads).
      const { stateChanges: _history, ...asListed } = before.action;
      expect(listed).toEqual([asListed]);

      // A's own agent is still heard: the same frames from it do move its action.
      a.send({ type: 'progress', actionId: act.id, percent: 50, message: 'half way' });
      if (startState === 'InProgress') await eventually(async () => (await action(act.id)).progress?.percent === 50);
      a.send({ type: 'result', actionId: act.id, status: 'Succeeded', error: null, result: { hostname: 'device-a' } });
      await until(() => a.resultAcks(act.id) === 1);
      expect(await action(act.id)).toMatchObject({ status: 'Succeeded', result: { hostname: 'device-a' } });
      a.close();
      b.close();
    });
  }
});

describe('a refused command (CommandRefused)', () => {
  it('ends the action Failed with the reason, on the timeline as CommandRefused and in the audit log', async () => {
    const a = await connectedAgent('device-a');
    const act = await refresh(a.machineId);
    const events: CordonEvent[] = [];
    const off = h.server.hub.subscribe((e) => void events.push(e));
    a.send({ type: 'refused', actionId: act.id, reason: 'Expired', detail: 'the command expired at 2026-11-25T09:00:00.000Z' });
    await until(() => a.resultAcks(act.id) === 1);
    off();
    expect(await action(act.id)).toMatchObject({ status: 'Failed', error: 'The agent refused the command: the command expired at 2026-11-25T09:00:00.000Z', errorHResult: -2147467259 });
    const tl = await timeline(a.machineId);
    expect(tl.find((e) => e.eventType === 'CommandRefused')).toMatchObject({ actionId: act.id, title: expect.stringContaining('(Expired)') });
    expect(tl[0]).toMatchObject({ eventType: 'ActionStateChanged', actionId: act.id });
    expect(events).toContainEqual({ kind: 'action', actionId: act.id, machineId: a.machineId, status: 'Failed' });
    const audit = (await h.call('GET', '/api/audit')).body.value;
    expect(audit[0]).toMatchObject({ action: 'RefuseCommand', outcome: 'Refused', actor: `agent:${a.machineId}` });
    // A refusal repeated (the agent's outbox re-sends until acknowledged) changes nothing more.
    a.send({ type: 'refused', actionId: act.id, reason: 'Expired', detail: 'again' });
    await until(() => a.resultAcks(act.id) === 2);
    expect((await action(act.id)).error).toBe('The agent refused the command: the command expired at 2026-11-25T09:00:00.000Z');
    // A finished action is not rewritten by a late refusal either.
    const done = await refresh(a.machineId);
    a.send({ type: 'result', actionId: done.id, status: 'Succeeded', error: null, result: {} });
    await until(() => a.resultAcks(done.id) === 1);
    a.send({ type: 'refused', actionId: done.id, reason: 'Replayed', detail: 'late' });
    await until(() => a.resultAcks(done.id) === 2);
    expect((await action(done.id)).status).toBe('Succeeded');
    a.close();
  });
});
