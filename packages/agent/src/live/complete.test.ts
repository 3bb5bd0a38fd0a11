import { randomUUID } from 'node:crypto';
import { chownSync, lchownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentFrame, CommandSigner, generateSigningKey, type CommandPayload, type LiveCompleteFrame, type LiveCompletionFrame } from '@cordon/protocol';
import { basicCommands } from './commands/index.js';
import { LiveShell } from './session.js';
import { LiveSessions } from './sessions.js';
import type { LiveCommand } from './types.js';

const isRoot = process.getuid?.() === 0;
const MACHINE = 'a'.repeat(40);
const keys = generateSigningKey();
const signer = new CommandSigner(keys.privateKeyPem);
const tmp = mkdtempSync(join(tmpdir(), 'cordon-complete-'));

beforeAll(() => {
  for (const d of ['etc', 'etc/ssh', 'etcetera', 'var/log', 'many', 'user']) mkdirSync(join(tmp, d), { recursive: true });
  writeFileSync(join(tmp, 'etc.conf'), 'x');
  writeFileSync(join(tmp, '.etc-hidden'), 'x');
  writeFileSync(join(tmp, 'with space'), 'x');
  writeFileSync(join(tmp, 'bad\u001b[31mname'), 'x');
  symlinkSync('var', join(tmp, 'var-link'));
  for (let i = 0; i < 250; i++) writeFileSync(join(tmp, 'many', `f${String(i).padStart(3, '0')}`), '');
  // A link a user planted, in a directory that user controls.
  symlinkSync('/etc', join(tmp, 'user/evil'));
  if (isRoot) {
    chownSync(join(tmp, 'user'), 4242, 4242);
    lchownSync(join(tmp, 'user/evil'), 4242, 4242);
  }
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('LiveShell.complete', () => {
  const shell = () => {
    const sh = new LiveShell({ level: 'basic' });
    sh.state.cwd = tmp;
    return sh;
  };

  it('answers the names starting with the last part, relative to the working directory, directories marked', async () => {
    expect(await shell().complete('et')).toEqual({
      base: '',
      entries: [
        { name: 'etc', type: 'dir' },
        { name: 'etc.conf', type: 'file' },
        { name: 'etcetera', type: 'dir' },
      ],
      truncated: false,
    });
    expect(await shell().complete(`${tmp}/etc/s`)).toEqual({ base: `${tmp}/etc/`, entries: [{ name: 'ssh', type: 'dir' }], truncated: false });
    expect(await shell().complete('etc/../var/')).toEqual({ base: 'etc/../var/', entries: [{ name: 'log', type: 'dir' }], truncated: false });
    expect((await shell().complete('/et')).entries).toContainEqual({ name: 'etc', type: 'dir' });
  });

  it('offers dot names only for a dot, never names with control characters, and keeps spaces as they are', async () => {
    expect((await shell().complete('.e')).entries).toEqual([{ name: '.etc-hidden', type: 'file' }]);
    expect((await shell().complete('')).entries.map((e) => e.name)).not.toContain('.etc-hidden');
    expect((await shell().complete('b')).entries).toEqual([]);
    expect((await shell().complete('with')).entries).toEqual([{ name: 'with space', type: 'file' }]);
  });

  it('answers at most 200 names and says more matched', async () => {
    const r = await shell().complete('many/f');
    expect(r.entries).toHaveLength(200);
    expect(r.entries[0]).toEqual({ name: 'f000', type: 'file' });
    expect(r.truncated).toBe(true);
  });

  it('marks a link root controls as what it leads to, and never goes through a link a user planted', async () => {
    expect((await shell().complete('var-')).entries).toEqual([{ name: 'var-link', type: 'dir' }]);
    if (!isRoot) return;
    expect((await shell().complete('user/')).entries).toEqual([{ name: 'evil', type: 'link' }]);
    await expect(shell().complete('user/evil/pass')).rejects.toThrow(/user could have planted/);
  });

  it('says why there is nothing to complete', async () => {
    await expect(shell().complete('nosuch/x')).rejects.toThrow(`${tmp}/nosuch: no such file or directory`);
    await expect(shell().complete('etc.conf/x')).rejects.toThrow('not a directory');
    const closed = shell();
    closed.close();
    await expect(closed.complete('')).rejects.toThrow('the session has ended');
  });
});

/** Writes `started` and runs until stopped. */
const hang: LiveCommand = {
  name: 'hang',
  summary: 'Wait until stopped',
  usage: 'hang',
  level: 'basic',
  run(_args, ctx) {
    ctx.write('started\n');
    return new Promise((_, reject) => ctx.signal.addEventListener('abort', () => reject(ctx.signal.reason as Error), { once: true }));
  },
};

describe('LiveSessions.complete', () => {
  function harness() {
    const sent: AgentFrame[] = [];
    const live = new LiveSessions({
      machineId: MACHINE,
      signingPublicKeyPem: keys.publicKeyPem,
      now: () => new Date(),
      send: (f) => {
        AgentFrame.parse(f);
        sent.push(f);
        return true;
      },
      createShell: (level) => new LiveShell({ level, commands: [...basicCommands, hang] }),
      logger: pino({ level: 'silent' }),
    });
    const answer = async (completionId: string): Promise<LiveCompletionFrame> => {
      for (let until = Date.now() + 5000; Date.now() < until; await sleep(5)) {
        const f = sent.find((x): x is LiveCompletionFrame => x.type === 'liveCompletion' && x.completionId === completionId);
        if (f) return f;
      }
      throw new Error(`no answer to completion ${completionId}`);
    };
    return { live, sent, answer };
  }
  const payload = (sessionId: string, parameters: Record<string, unknown>): CommandPayload => ({
    actionId: randomUUID(),
    machineId: MACHINE,
    type: 'LiveResponse',
    parameters,
    issuedAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
  });
  const request = (sessionId: string, path: string, completionId = randomUUID(), by = signer): LiveCompleteFrame => ({
    type: 'liveComplete',
    sessionId,
    completionId,
    command: by.sign(payload(sessionId, { sessionId, completionId, path })),
  });

  it('answers a signed request in the session’s directory, while a line runs, without touching the lines’ order', async () => {
    const { live, sent, answer } = harness();
    const id = randomUUID();
    const ended = live.open(id, { level: 'basic', shell: false, idleTimeoutSeconds: 1800 }, new AbortController().signal);
    live.command({ type: 'liveCommand', sessionId: id, seq: 1, command: signer.sign(payload(id, { sessionId: id, seq: 1, line: `cd ${tmp}` })) });
    await sleep(50);
    live.command({ type: 'liveCommand', sessionId: id, seq: 2, command: signer.sign(payload(id, { sessionId: id, seq: 2, line: 'hang' })) });
    await sleep(50);
    const req = request(id, 'etc/');
    live.complete(req);
    expect(await answer(req.completionId)).toEqual({ type: 'liveCompletion', sessionId: id, completionId: req.completionId, base: 'etc/', entries: [{ name: 'ssh', type: 'dir' }], truncated: false, error: null });
    // The running line is still running, and the next line (seq 3) is taken as usual.
    expect(sent.some((f) => f.type === 'liveDone' && f.seq === 2)).toBe(false);
    live.cancel({ sessionId: id, seq: 2 });
    live.command({ type: 'liveCommand', sessionId: id, seq: 3, command: signer.sign(payload(id, { sessionId: id, seq: 3, line: 'pwd' })) });
    for (let until = Date.now() + 5000; !sent.some((f) => f.type === 'liveDone' && f.seq === 3) && Date.now() < until; ) await sleep(5);
    expect(sent.find((f) => f.type === 'liveDone' && f.seq === 3)).toMatchObject({ exitStatus: 0, error: null, cwd: tmp });
    // A completion answers no line and counts as none.
    live.close({ sessionId: id, reason: 'Ended' });
    expect(await ended).toMatchObject({ commands: 3 });
  });

  it('refuses a replayed, forged or mismatched request, a line’s signed command, and one for a session not open', async () => {
    const { live, sent, answer } = harness();
    const id = randomUUID();
    void live.open(id, { level: 'basic', shell: false, idleTimeoutSeconds: 1800 }, new AbortController().signal);
    const answers = (completionId: string) => sent.filter((f): f is LiveCompletionFrame => f.type === 'liveCompletion' && f.completionId === completionId);

    const first = request(id, '/');
    live.complete(first);
    expect((await answer(first.completionId)).error).toBeNull();
    live.complete(first);
    for (let until = Date.now() + 5000; answers(first.completionId).length < 2 && Date.now() < until; ) await sleep(5);
    expect(answers(first.completionId)[1]).toMatchObject({ entries: [], error: expect.stringMatching(/replayed request/) });

    const forged = request(id, '/', randomUUID(), new CommandSigner(generateSigningKey().privateKeyPem));
    live.complete(forged);
    expect((await answer(forged.completionId)).error).toMatch(/signature/);

    const lineId = randomUUID();
    live.complete({ type: 'liveComplete', sessionId: id, completionId: lineId, command: signer.sign(payload(id, { sessionId: id, seq: 5, line: 'ls /' })) });
    expect(await answer(lineId)).toMatchObject({ entries: [], error: 'the signed command is not a completion request' });

    const swapped = { ...request(id, '/'), completionId: randomUUID() };
    live.complete(swapped);
    expect((await answer(swapped.completionId)).error).toMatch(/^the signed request is completion/);

    const elsewhere = randomUUID();
    const notOpen = request(elsewhere, '/');
    live.complete(notOpen);
    expect(await answer(notOpen.completionId)).toMatchObject({ sessionId: elsewhere, entries: [], error: expect.stringMatching(/no such session/) });
  });
});
