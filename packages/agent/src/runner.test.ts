import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
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
import { CommandRunner, type RunnerDeps } from './runner.js';

const MACHINE = 'a'.repeat(40);
const keys = generateSigningKey();
const signer = new CommandSigner(keys.privateKeyPem);
const NOW = Date.parse('2026-11-25T10:00:00Z');

function command(over: Partial<{ actionId: string; machineId: string; type: 'RefreshInventory' | 'Unisolate'; expiresAt: string; parameters: Record<string, unknown> }> = {}): SignedCommand {
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
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: z.strictObject({}),
  timeoutMs: 200,
  maxResultBytes: 1024,
  async run() {
    runs++;
    return behaviour();
  },
};

function runner(journal = new Journal(dir), over: Partial<RunnerDeps> = {}) {
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
    ...over,
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
    // A long time budget: on a loaded machine the 20 ms below can outlast the usual 200 ms one,
    // and an action that timed out is done, not interrupted.
    const slow = { ...fakeAction, timeoutMs: 60_000 };
    // The old process's promise outlives the test; its late failure is not the test's concern.
    void runner(journal, { actions: new Map([['RefreshInventory', slow]]) }).handle(c).catch(() => {});
    // The process "dies" once the action runs (its temp directory made, which takes a while under load).
    for (let i = 0; i < 500 && runs === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(runs).toBe(1);
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

  it('removes the temp directory an interrupted action left behind, and only that one', async () => {
    behaviour = () => new Promise(() => {}); // never finishes: the process "dies" mid-action
    const slow = { ...fakeAction, timeoutMs: 60_000 };
    const c = command();
    const id = JSON.parse(c.payload).actionId as string;
    void runner(new Journal(dir), { actions: new Map([['RefreshInventory', slow]]) }).handle(c).catch(() => {});
    const ours = () => readdirSync(dir).filter((n) => n.startsWith('cordon-RefreshInventory-'));
    for (let i = 0; i < 200 && ours().length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(ours()).toEqual([expect.stringContaining(id)]);
    mkdirSync(join(dir, 'cordon-RefreshInventory-not-ours'));
    // A new process reads the journal.
    expect(runner(new Journal(dir)).recoverInterrupted()).toBe(1);
    expect(ours()).toEqual(['cordon-RefreshInventory-not-ours']);
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

describe('CommandRunner budgets', () => {
  /** Actions that start, then wait until the test lets them finish. */
  let started: string[];
  let finish: Map<string, () => void>;
  const gated = (type: 'RefreshInventory' | 'Unisolate', concurrency: number): ActionManifest => ({
    ...fakeAction,
    type,
    timeoutMs: 5000,
    concurrency,
    async run(_p, ctx) {
      started.push(ctx.actionId);
      await new Promise<void>((r) => finish.set(ctx.actionId, r));
      return { ok: true };
    },
  });
  const actions = (refresh = 1, unisolate = 1) => new Map([['RefreshInventory', gated('RefreshInventory', refresh)], ['Unisolate', gated('Unisolate', unisolate)]] as const);
  const idOf = (c: SignedCommand): string => JSON.parse(c.payload).actionId;
  const framesFor = (c: SignedCommand) => sent.filter((f) => 'actionId' in f && f.actionId === idOf(c)).map((f) => f.type);
  const until = async (what: () => boolean) => {
    for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
    expect(what()).toBe(true);
  };
  /** Long enough for anything wrongly started to have started. */
  const settle = () => new Promise((r) => setTimeout(r, 50));

  beforeEach(() => {
    started = [];
    finish = new Map();
  });

  it('runs two commands of a concurrency-1 action one after the other, acking each when it starts', async () => {
    const r = runner(undefined, { actions: actions() });
    const [a, b] = [command(), command()];
    const pa = r.handle(a);
    const pb = r.handle(b);
    await until(() => started.length === 1);
    await settle();
    expect(started).toEqual([idOf(a)]);
    expect(framesFor(b)).toEqual([]);
    finish.get(idOf(a))!();
    await pa;
    await until(() => started.length === 2);
    expect(sent.map((f) => f.type)).toEqual(['ack', 'result', 'ack']);
    finish.get(idOf(b))!();
    await pb;
    expect(framesFor(b)).toEqual(['ack', 'result']);
  });

  it('runs different actions in parallel, within the global limit', async () => {
    const r = runner(undefined, { actions: actions() });
    const [a, b] = [command(), command({ type: 'Unisolate' })];
    const done = [r.handle(a), r.handle(b)];
    await until(() => started.length === 2);
    for (const f of finish.values()) f();
    await Promise.all(done);

    started = [];
    const one = runner(undefined, { actions: actions(), maxConcurrent: 1 });
    const [c, d] = [command(), command({ type: 'Unisolate' })];
    const pc = one.handle(c);
    const pd = one.handle(d);
    await until(() => started.length === 1);
    await settle();
    expect(started).toEqual([idOf(c)]);
    finish.get(idOf(c))!();
    await pc;
    await until(() => started.length === 2);
    finish.get(idOf(d))!();
    await pd;
  });

  it('never runs a queued command that is cancelled, nor its redelivery', async () => {
    const r = runner(undefined, { actions: actions() });
    const [a, b] = [command(), command()];
    const pa = r.handle(a);
    const pb = r.handle(b);
    await until(() => started.length === 1);
    r.cancel(idOf(b));
    await pb;
    finish.get(idOf(a))!();
    await pa;
    await r.handle(b);
    await runner(new Journal(dir), { actions: actions() }).handle(b);
    await settle();
    expect(started).toEqual([idOf(a)]);
    expect(framesFor(b)).toEqual([]);
  });

  it('forgets queued commands when the connection closes, so a cancel sent while away is never missed', async () => {
    const r = runner(undefined, { actions: actions() });
    const [a, b, c] = [command(), command(), command()];
    const pa = r.handle(a);
    const pb = r.handle(b);
    const pc = r.handle(c);
    await until(() => started.length === 1);
    expect(r.dropQueued()).toBe(2);
    await Promise.all([pb, pc]);
    // Back online: the server sends b again (still Pending); c was cancelled meanwhile and is not sent.
    const pb2 = r.handle(b);
    finish.get(idOf(a))!();
    await pa;
    await until(() => started.length === 2);
    finish.get(idOf(b))!();
    await pb2;
    await settle();
    expect(started).toEqual([idOf(a), idOf(b)]);
    expect(framesFor(c)).toEqual([]);
    expect(framesFor(b)).toEqual(['ack', 'result']);
  });

  it('does not queue a redelivered command twice; after a restart a queued one runs once and a running one never again', async () => {
    const r = runner(undefined, { actions: actions() });
    const [a, b] = [command(), command()];
    void r.handle(a).catch(() => {});
    void r.handle(b).catch(() => {});
    await until(() => started.length === 1);
    await r.handle(b); // redelivered while waiting: ignored
    expect(framesFor(b)).toEqual([]);
    // The process "dies" with a running and b queued (neither journaled as done, b not acked).
    sent = [];
    const after = runner(new Journal(dir), { actions: actions() });
    expect(after.recoverInterrupted()).toBe(1);
    const pa = after.handle(a);
    const pb = after.handle(b);
    await pa;
    await until(() => started.length === 2);
    finish.get(idOf(b))!();
    await pb;
    expect(started).toEqual([idOf(a), idOf(b)]);
    expect(framesFor(a)).toEqual(['result']);
    expect(framesFor(b)).toEqual(['ack', 'result']);
  });

  for (const concurrency of [1, 4]) {
    it(`never starts a command again when the server redelivers it while its first run is still going (concurrency ${concurrency})`, async () => {
      const r = runner(undefined, { actions: actions(concurrency) });
      const a = command();
      const first = r.handle(a);
      await until(() => started.length === 1);
      // The server redelivers (a reconnect, a restart of the server): the command is journaled as running.
      const again = r.handle(a);
      const third = r.handle(a);
      await Promise.all([again, third]);
      await settle();
      expect(started).toEqual([idOf(a)]);
      // The repeat is answered with an ack (it runs), never a second result.
      expect(framesFor(a)).toEqual(['ack', 'ack', 'ack']);
      finish.get(idOf(a))!();
      await first;
      await settle();
      expect(started).toEqual([idOf(a)]);
      expect(framesFor(a)).toEqual(['ack', 'ack', 'ack', 'result']);
      // Once done, a redelivery gets the stored result and still does not run.
      await r.handle(a);
      expect(started).toEqual([idOf(a)]);
      expect(framesFor(a)).toEqual(['ack', 'ack', 'ack', 'result', 'result']);
    });
  }

  it('refuses a command that expired while it waited', async () => {
    let now = NOW;
    const r = runner(undefined, { actions: actions(), now: () => new Date(now) });
    const a = command();
    const b = command({ expiresAt: new Date(NOW + 60_000).toISOString() });
    const pa = r.handle(a);
    const pb = r.handle(b);
    await until(() => started.length === 1);
    now = NOW + 120_000;
    finish.get(idOf(a))!();
    await Promise.all([pa, pb]);
    expect(started).toEqual([idOf(a)]);
    expect(sent.filter((f) => f.type === 'refused')).toEqual([expect.objectContaining({ actionId: idOf(b), reason: 'Expired' })]);
  });

  it('passes the CPU budget of the manifest in the context', async () => {
    let seen: number | undefined;
    const r = runner(undefined, { actions: new Map([['RefreshInventory', { ...fakeAction, cpuPercent: 25, run: async (_p, ctx) => ((seen = ctx.cpuPercent), {}) }]]) });
    await r.handle(command());
    expect(seen).toBe(25);
  });
});
