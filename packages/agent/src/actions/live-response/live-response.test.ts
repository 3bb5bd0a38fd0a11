import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandSigner, generateSigningKey, type AgentFrame, type CommandPayload, type LiveDoneFrame } from '@cordon/protocol';
import { localInventory } from '../../agent.js';
import { Journal } from '../../journal.js';
import { LiveShell } from '../../live/session.js';
import { LiveSessions } from '../../live/sessions.js';
import type { AgentModules } from '../../modules/index.js';
import { CommandRunner } from '../../runner.js';
import { fakePlatform } from '../../testing/fake-platform.js';
import { actionsFor } from '../index.js';
import type { ActionManifest } from '../types.js';
import { liveResponse } from './index.js';

const MACHINE = 'c'.repeat(40);
const keys = generateSigningKey();
const signer = new CommandSigner(keys.privateKeyPem);
const logger = pino({ level: 'silent' });

function signed(type: CommandPayload['type'], parameters: Record<string, unknown>, actionId: string = randomUUID()) {
  return signer.sign({ actionId, machineId: MACHINE, type, parameters, issuedAt: new Date(Date.now() - 1000).toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString() });
}

let dir: string;
let sent: AgentFrame[];
let live: LiveSessions;
let runner: CommandRunner;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-live-action-'));
  sent = [];
  const send = (f: AgentFrame) => {
    sent.push(f);
    return true;
  };
  const base = { machineId: MACHINE, signingPublicKeyPem: keys.publicKeyPem, logger, now: () => new Date(), send };
  live = new LiveSessions({ ...base, createShell: (level) => new LiveShell({ level }) });
  runner = new CommandRunner({
    ...base,
    journal: new Journal(dir),
    actions: new Map([['LiveResponse', liveResponse as ActionManifest]]),
    platform: fakePlatform().platform,
    modules: {} as AgentModules,
    dataDir: dir,
    upload: async () => Promise.reject(new Error('no uploads in these tests')),
    sendInventory: async () => {},
    tempRoot: dir,
    live,
  });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function until(what: string, ok: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

const session = { session: { level: 'basic', shell: false, idleTimeoutSeconds: 1800 } };

describe('LiveResponse action', () => {
  it('a signed session action opens a session, runs its lines, and succeeds with the counts when closed', async () => {
    const sessionId = randomUUID();
    const handled = runner.handle(signed('LiveResponse', session, sessionId));
    await until('the ack', () => sent.some((f) => f.type === 'ack'));
    const lines = ['pwd', 'cd /nonexistent-cordon-dir', 'ls /'];
    // Sent as soon as the ack is in, as the server may: a line that overtakes the session's opening waits for it.
    lines.forEach((text, i) => live.command({ type: 'liveCommand', sessionId, seq: i + 1, command: signed('LiveResponse', { sessionId, seq: i + 1, line: text }) }));
    await until('every line to end', () => sent.filter((f) => f.type === 'liveDone').length === lines.length);
    const dones = sent.filter((f): f is LiveDoneFrame => f.type === 'liveDone');
    expect(dones.map((d) => [d.seq, d.exitStatus === 0])).toEqual(expect.arrayContaining([[1, true], [2, false], [3, true]]));
    // Still running: no result until the session ends.
    expect(sent.some((f) => f.type === 'result')).toBe(false);
    live.close({ sessionId, reason: 'Ended' });
    await handled;
    expect(sent.at(-1)).toEqual({ type: 'result', actionId: sessionId, status: 'Succeeded', error: null, result: { endReason: 'Ended', commands: 3, failed: 1 } });
  });

  it('a cancelled session action ends its session: its lines are refused after', async () => {
    const sessionId = randomUUID();
    const handled = runner.handle(signed('LiveResponse', session, sessionId));
    await until('the session', () => live.sessionIds().includes(sessionId));
    runner.cancel(sessionId);
    await handled;
    expect(sent.at(-1)).toMatchObject({ type: 'result', actionId: sessionId, status: 'Failed', error: 'cancelled by the server' });
    expect(live.sessionIds()).toEqual([]);
    live.command({ type: 'liveCommand', sessionId, seq: 1, command: signed('LiveResponse', { sessionId, seq: 1, line: 'pwd' }) });
    expect(sent.at(-1)).toMatchObject({ type: 'liveDone', exitStatus: 126, error: 'no such session (it ended or never opened)' });
  });

  it('reports a batch command that cannot run with its per-command result, and bad parameters as invalid', async () => {
    // No uploader in this bed: GetFile fails, and says why, command by command.
    const batch = randomUUID();
    await runner.handle(signed('LiveResponse', { commands: [{ type: 'GetFile', params: [{ key: 'Path', value: '/etc/hosts' }] }] }, batch));
    expect(sent.at(-1)).toMatchObject({ type: 'result', actionId: batch, status: 'Failed', error: 'Command 0 (GetFile) failed: getfile: this session cannot send files to the server', result: { commands: [{ index: 0, status: 'Failed', errors: ['getfile: this session cannot send files to the server'] }] } });
    const bad = randomUUID();
    await runner.handle(signed('LiveResponse', { session: { level: 'root', shell: false, idleTimeoutSeconds: 1800 } }, bad));
    expect(sent.at(-1)).toMatchObject({ type: 'result', actionId: bad, status: 'Failed', error: expect.stringMatching(/^Invalid parameters for LiveResponse/) });
    expect(live.sessionIds()).toEqual([]);
  });

  it('is registered, and the device reports the liveResponse capability', async () => {
    expect(actionsFor('linux').get('LiveResponse')).toBe(liveResponse);
    const inventory = await localInventory([], fakePlatform().platform);
    expect(inventory.capabilities).toContainEqual({ name: 'liveResponse', version: '1' });
  });
});
