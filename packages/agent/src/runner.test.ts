import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { CommandSigner, generateSigningKey, type AgentFrame, type SignedCommand } from '@cordon/protocol';
import type { ActionManifest } from './actions/types.js';
import { Journal } from './journal.js';
import type { AgentModules } from './modules/index.js';
import { fakePlatform } from './testing/fake-platform.js';
import { CommandRunner } from './runner.js';

const MACHINE = 'a'.repeat(40);
const keys = generateSigningKey();
const signer = new CommandSigner(keys.privateKeyPem);
const NOW = Date.parse('2026-11-25T10:00:00Z');

function command(over: Partial<{ actionId: string; machineId: string; type: 'RefreshInventory'; expiresAt: string; parameters: Record<string, unknown> }> = {}): SignedCommand {
  return signer.sign({
    actionId: over.actionId ?? crypto.randomUUID(),
    machineId: over.machineId ?? MACHINE,
    type: over.type ?? 'RefreshInventory',
    parameters: over.parameters ?? {},
    issuedAt: new Date(NOW - 1000).toISOString(),
    expiresAt: over.expiresAt ?? new Date(NOW + 3600_000).toISOString(),
  });
}

let dir: string;
let sent: AgentFrame[];
let runs: number;
let behaviour: () => Promise<Record<string, unknown>>;

const fakeAction: ActionManifest = {
  type: 'RefreshInventory',
  capability: { name: 'inventory', version: '1' },
  platforms: ['linux'],
  parameters: z.strictObject({}),
  timeoutMs: 200,
  maxResultBytes: 1024,
  async run() {
    runs++;
    return behaviour();
  },
};

function runner(journal = new Journal(dir)) {
  return new CommandRunner({
    journal,
    actions: new Map([['RefreshInventory', fakeAction]]),
    platform: fakePlatform().platform,
    modules: {} as AgentModules,
    dataDir: dir,
    upload: async () => Promise.reject(new Error('no uploads in these tests')),
    machineId: MACHINE,
    signingPublicKeyPem: keys.publicKeyPem,
    logger: pino({ level: 'silent' }),
    now: () => new Date(NOW),
    send: (f) => {
      sent.push(f);
      return true;
    },
    sendInventory: async () => {},
    tempRoot: dir,
  });
}

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-runner-'));
  sent = [];
  runs = 0;
  behaviour = async () => ({ ok: true });
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('CommandRunner', () => {
  it('acks, runs once and reports the result', async () => {
    const r = runner();
    const c = command();
    await r.handle(c);
    expect(runs).toBe(1);
    expect(sent.map((f) => f.type)).toEqual(['ack', 'result']);
    expect(sent[1]).toMatchObject({ status: 'Succeeded', result: { ok: true } });
  });

  it('never runs a redelivered or replayed command twice, and answers with the stored result', async () => {
    const c = command();
    await runner().handle(c);
    sent = [];
    // Same process and a new process (restart) alike.
    await runner().handle(c);
    expect(runs).toBe(1);
    expect(sent).toEqual([expect.objectContaining({ type: 'result', status: 'Succeeded' })]);
  });

  it('refuses tampered, foreign, expired and unsigned commands without running them', async () => {
    const good = command();
    const tampered = { ...good, payload: good.payload.replace('"parameters":{}', '"parameters":{"x":1}') };
    const otherKey = new CommandSigner(generateSigningKey().privateKeyPem).sign(JSON.parse(good.payload));
    const cases: [SignedCommand, string][] = [
      [tampered, 'BadSignature'],
      [otherKey, 'BadSignature'],
      [{ ...good, signature: '' }, 'BadSignature'],
      [command({ machineId: 'b'.repeat(40) }), 'WrongMachine'],
      [command({ expiresAt: new Date(NOW - 1).toISOString() }), 'Expired'],
    ];
    const r = runner();
    for (const [c, reason] of cases) {
      sent = [];
      await r.handle(c);
      expect(sent, reason).toEqual([expect.objectContaining({ type: 'refused', reason })]);
    }
    expect(runs).toBe(0);
  });

  it('reports an action interrupted by a restart as failed and never re-runs it', async () => {
    behaviour = () => new Promise(() => {}); // never finishes: the process "dies" mid-action
    const journal = new Journal(dir);
    const c = command();
    // The old process's promise outlives the test; its late failure is not the test's concern.
    void runner(journal).handle(c).catch(() => {});
    await new Promise((r) => setTimeout(r, 20));
    expect(sent.map((f) => f.type)).toEqual(['ack']);
    // A new process reads the journal.
    sent = [];
    behaviour = async () => ({ ok: true });
    const after = runner(new Journal(dir));
    expect(after.recoverInterrupted()).toBe(1);
    after.flushOutbox();
    expect(sent).toEqual([expect.objectContaining({ type: 'result', status: 'Failed', error: expect.stringContaining('was not run again') })]);
    sent = [];
    await after.handle(c);
    expect(runs).toBe(1);
    expect(sent[0]).toMatchObject({ type: 'result', status: 'Failed' });
  });

  it('keeps results in the outbox until the server acknowledges them', async () => {
    const journal = new Journal(dir);
    const r = runner(journal);
    const c = command();
    await r.handle(c);
    const id = JSON.parse(c.payload).actionId;
    sent = [];
    r.flushOutbox();
    expect(sent).toHaveLength(1);
    r.resultAcknowledged(id);
    sent = [];
    runner(new Journal(dir)).flushOutbox();
    expect(sent).toEqual([]);
  });

  it('enforces the time budget and reports failures with a sentence', async () => {
    behaviour = () => new Promise(() => {});
    await runner().handle(command());
    expect(sent[1]).toMatchObject({ type: 'result', status: 'Failed', error: 'RefreshInventory did not finish within 0.2 s' });
    sent = [];
    behaviour = async () => ({ big: 'x'.repeat(2000) });
    await runner().handle(command());
    expect(sent[1]).toMatchObject({ status: 'Failed', error: expect.stringContaining('budget') });
    sent = [];
    behaviour = async () => {
      throw new Error('collector crashed');
    };
    await runner().handle(command());
    expect(sent[1]).toMatchObject({ status: 'Failed', error: 'collector crashed' });
  });

  it('drops a command cancelled before it arrived', async () => {
    const r = runner();
    const c = command();
    r.cancel(JSON.parse(c.payload).actionId);
    await r.handle(c);
    expect(runs).toBe(0);
    expect(sent).toEqual([]);
  });
});
