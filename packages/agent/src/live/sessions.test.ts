import { randomUUID } from 'node:crypto';
import { setImmediate as nextTurn, setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { AgentFrame, CommandSigner, generateSigningKey, MAX_LIVE_OUTPUT_CHARS, type CommandPayload, type LiveCommandFrame, type LiveDoneFrame, type LiveInputFrame, type LiveOutputFrame } from '@cordon/protocol';
import { basicCommands } from './commands/index.js';
import { LiveShell } from './session.js';
import { LiveSessions, type LiveSessionsDeps, type LiveSessionSettings } from './sessions.js';
import type { LiveCommand } from './types.js';

const MACHINE = 'a'.repeat(40);
const keys = generateSigningKey();
const signer = new CommandSigner(keys.privateKeyPem);
const SETTINGS: LiveSessionSettings = { level: 'basic', shell: false, idleTimeoutSeconds: 1800 };

// Commands made for these tests, next to the real basic ones.
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
/** Writes `n` short lines, one write each, yielding to the event loop between writes (as a real command reading files does). */
const chatty: LiveCommand = {
  name: 'chatty',
  summary: 'Many small writes',
  usage: 'chatty <n> [every-ms]',
  level: 'basic',
  async run(args, ctx) {
    const [n = 0, everyMs = 0] = args.map(Number);
    for (let i = 0; i < n; i++) {
      ctx.write(`line ${i}\n`);
      await (everyMs ? sleep(everyMs) : nextTurn());
    }
  },
};
/** Writes one big text at once: `big ascii <chars>` or `big emoji <count>` (after an `a`, so pairs straddle frame edges). */
const big: LiveCommand = {
  name: 'big',
  summary: 'One big write',
  usage: 'big ascii|emoji <n>',
  level: 'basic',
  async run([kind, n], ctx) {
    ctx.write(kind === 'emoji' ? `a${'😀'.repeat(Number(n))}` : 'x'.repeat(Number(n)));
  },
};
/** Answers structured data of about `n` characters of JSON. */
const data: LiveCommand = {
  name: 'data',
  summary: 'Structured result',
  usage: 'data <n>',
  level: 'basic',
  async run([n], ctx) {
    ctx.write('ok\n');
    return { data: { blob: 'd'.repeat(Number(n)) } };
  },
};
/** A stand-in for `shell` (an interactive command): echoes each input back raw, sizes as [COLSxROWS]; `q` ends it. */
const echoShell: LiveCommand = {
  name: 'shell',
  summary: 'Echo what is typed',
  usage: 'shell',
  level: 'basic',
  interactive: true,
  run(_args, ctx) {
    return new Promise((resolve) => {
      ctx.writeTerminal(`[${ctx.terminal!.cols}x${ctx.terminal!.rows}]`);
      ctx.terminal!.attach((i) => {
        if (i.cols) ctx.writeTerminal(`[${i.cols}x${i.rows}]`);
        if (i.data) ctx.writeTerminal(i.data);
        if (i.data?.includes('q')) resolve({ exitStatus: 0 });
      });
    });
  },
};
const COMMANDS = [...basicCommands, hang, chatty, big, data, echoShell];

/** All the output text in these frames, in order: liveOutput frames and what liveDone frames carry. */
function textSent(frames: AgentFrame[]): string {
  return frames.map((f) => (f.type === 'liveOutput' ? f.text : f.type === 'liveDone' ? (f.text ?? '') : '')).join('');
}

function harness(over: Partial<LiveSessionsDeps> = {}) {
  const sent: AgentFrame[] = [];
  const live = new LiveSessions({
    machineId: MACHINE,
    signingPublicKeyPem: keys.publicKeyPem,
    now: () => new Date(),
    send: (f) => {
      // Every frame must be one the server accepts.
      AgentFrame.parse(f);
      sent.push(f);
      return true;
    },
    createShell: (level) => new LiveShell({ level, commands: COMMANDS }),
    logger: pino({ level: 'silent' }),
    ...over,
  });
  const outputs = (sessionId: string, seq: number) => sent.filter((f): f is LiveOutputFrame => f.type === 'liveOutput' && f.sessionId === sessionId && f.seq === seq);
  const textOf = (sessionId: string, seq: number) => textSent(sent.filter((f) => (f.type === 'liveOutput' || f.type === 'liveDone') && f.sessionId === sessionId && f.seq === seq));
  const done = async (sessionId: string, seq: number, timeoutMs = 5000): Promise<LiveDoneFrame> => {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const d = sent.find((f): f is LiveDoneFrame => f.type === 'liveDone' && f.sessionId === sessionId && f.seq === seq);
      if (d) return d;
      if (Date.now() > until) throw new Error(`no liveDone for line ${seq}`);
      await sleep(5);
    }
  };
  /** Runs a line to its end: its output (all frames, in order) and its liveDone. */
  const run = async (sessionId: string, seq: number, text: string) => {
    live.command(line(sessionId, seq, text));
    const d = await done(sessionId, seq);
    // The output frames, then what the liveDone carries (the last output of a short line).
    const texts = [...outputs(sessionId, seq).map((f) => f.text), ...(d.text ? [d.text] : [])];
    return { done: d, output: texts.join(''), frames: texts.length, sizes: texts.map((t) => t.length) };
  };
  return { live, sent, outputs, textOf, done, run };
}

function payload(sessionId: string, seq: number, text: string, over: Partial<CommandPayload> = {}): CommandPayload {
  return {
    actionId: randomUUID(),
    machineId: MACHINE,
    type: 'LiveResponse',
    parameters: { sessionId, seq, line: text },
    issuedAt: new Date(Date.now() - 1000).toISOString(),
    expiresAt: new Date(Date.now() + 60_000).toISOString(),
    ...over,
  };
}

function line(sessionId: string, seq: number, text: string, over: Partial<CommandPayload> = {}, by = signer): LiveCommandFrame {
  return { type: 'liveCommand', sessionId, seq, command: by.sign(payload(sessionId, seq, text, over)) };
}

function input(sessionId: string, seq: number, chunk: number, body: { data?: string; cols?: number; rows?: number }, over: { signedSeq?: number; by?: CommandSigner } = {}): LiveInputFrame {
  const p = { ...payload(sessionId, seq, ''), parameters: { sessionId, seq: over.signedSeq ?? seq, chunk, ...body } };
  return { type: 'liveInput', sessionId, seq, chunk, command: (over.by ?? signer).sign(p) };
}

const settle = () => sleep(30);

async function waitFor(what: string, ok: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

describe('LiveSessions', () => {
  it('runs a signed line: its output in liveOutput frames, then a liveDone with status, cwd and data', async () => {
    const { live, run } = harness();
    const id = randomUUID();
    const ended = live.open(id, SETTINGS, new AbortController().signal);
    expect(await run(id, 1, 'pwd')).toEqual({ done: { type: 'liveDone', sessionId: id, seq: 1, text: '/\n', exitStatus: 0, error: null, cwd: '/', truncated: false, data: { cwd: '/' } }, output: '/\n', frames: 1, sizes: [2] });
    const cd = await run(id, 2, 'cd /tmp');
    expect(cd.done).toMatchObject({ exitStatus: 0, cwd: '/tmp' });
    const unknown = await run(id, 3, 'nosuch');
    expect(unknown.done).toMatchObject({ exitStatus: 127, error: null, cwd: '/tmp' });
    expect(unknown.output).toBe('nosuch: unknown command (help lists the commands)\n');
    live.close({ sessionId: id, reason: 'Ended' });
    expect(await ended).toEqual({ endReason: 'Ended', commands: 3, failed: 1 });
  });

  it('refuses a line that is forged, for another machine, expired, not a live line, mismatched or replayed: 126 at once, never run', async () => {
    const { live, sent, run, done } = harness();
    const id = randomUUID();
    const ended = live.open(id, SETTINGS, new AbortController().signal);
    const other = new CommandSigner(generateSigningKey().privateKeyPem);
    const refused = async (frame: LiveCommandFrame) => {
      live.command(frame);
      // Answered synchronously: nothing was started.
      const d = sent.at(-1) as LiveDoneFrame;
      expect(d).toMatchObject({ type: 'liveDone', sessionId: frame.sessionId, seq: frame.seq, exitStatus: 126, truncated: false });
      return d.error;
    };
    expect(await refused(line(id, 1, 'cd /tmp', {}, other))).toBe('The command signature does not verify against the server key');
    expect(await refused(line(id, 2, 'cd /tmp', { machineId: 'b'.repeat(40) }))).toBe(`The command is for machine ${'b'.repeat(40)}, not this one`);
    expect(await refused(line(id, 3, 'cd /tmp', { expiresAt: new Date(Date.now() - 1).toISOString() }))).toMatch(/^The command expired at /);
    expect(await refused(line(id, 4, 'cd /tmp', { type: 'RefreshInventory' }))).toBe('the signed command is a RefreshInventory action, not a live response line');
    expect(await refused({ ...line(id, 5, 'cd /tmp'), seq: 6 })).toBe(`the signed line is line 5 of session ${id}, not line 6 of session ${id}`);
    expect(await refused({ type: 'liveCommand', sessionId: id, seq: 7, command: signer.sign(payload(id, 7, 'x', { parameters: { sessionId: id, seq: 7 } })) })).toMatch(/^the signed command is not a live response line: /);
    const other2 = randomUUID();
    expect(await refused({ ...line(other2, 8, 'cd /tmp'), sessionId: id })).toBe(`the signed line is line 8 of session ${other2}, not line 8 of session ${id}`);
    // A good line, then the very same frame again, and an older seq: both refused.
    const good = line(id, 10, 'pwd');
    live.command(good);
    expect((await done(id, 10)).exitStatus).toBe(0);
    expect(await refused(good)).toBe('line 10 is not after line 10: a replayed or out-of-order line is not run');
    expect(await refused(line(id, 9, 'cd /tmp'))).toBe('line 9 is not after line 10: a replayed or out-of-order line is not run');
    // None of the refused `cd /tmp` ran: the session is still at /, and no refused line has output.
    expect((await run(id, 11, 'pwd')).output).toBe('/\n');
    expect(sent.filter((f) => (f.type === 'liveOutput' || (f.type === 'liveDone' && f.text)) && ![10, 11].includes(f.seq))).toEqual([]);
    // Refused lines are answered with the session's cwd and counted as failed lines of it.
    expect(sent.filter((f): f is LiveDoneFrame => f.type === 'liveDone' && f.exitStatus === 126).every((d) => d.cwd === '/')).toBe(true);
    live.close({ sessionId: id, reason: 'Ended' });
    expect(await ended).toEqual({ endReason: 'Ended', commands: 11, failed: 9 });
  });

  it('answers a line for a session that never opens with 126 after a short wait, and ignores cancel for it', async () => {
    const { live, sent } = harness({ openGraceMs: 100 });
    const id = randomUUID();
    const t0 = Date.now();
    live.command(line(id, 1, 'cd /tmp'));
    live.cancel({ sessionId: id, seq: 1 });
    expect(sent).toEqual([]);
    await waitFor('the refusal', () => sent.length > 0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(95);
    expect(sent).toEqual([{ type: 'liveDone', sessionId: id, seq: 1, exitStatus: 126, error: 'no such session (it ended or never opened)', cwd: '', truncated: false }]);
    // A forged line for an unknown session is refused at once, as forged: it learns nothing about sessions.
    live.command(line(id, 2, 'pwd', {}, new CommandSigner(generateSigningKey().privateKeyPem)));
    expect(sent[1]).toMatchObject({ seq: 2, exitStatus: 126, error: 'The command signature does not verify against the server key' });
  });

  it('runs a line that came just before its session opened (the ack overtakes the open), in order', async () => {
    const { live, sent, textOf, done } = harness({ openGraceMs: 5000 });
    const id = randomUUID();
    live.command(line(id, 1, 'cd /tmp'));
    live.command(line(id, 2, 'pwd'));
    await settle();
    expect(sent).toEqual([]);
    const ended = live.open(id, SETTINGS, new AbortController().signal);
    expect(await done(id, 1)).toMatchObject({ exitStatus: 0, cwd: '/tmp' });
    expect((await done(id, 2)).exitStatus).toBe(0);
    // Lines of a session run concurrently; seq 2 may have run before or after the cd.
    expect(['/\n', '/tmp\n']).toContain(textOf(id, 2));
    live.close({ sessionId: id, reason: 'Ended' });
    expect(await ended).toEqual({ endReason: 'Ended', commands: 2, failed: 0 });
    // A line for the ended session is refused at once.
    live.command(line(id, 3, 'pwd'));
    expect(sent.at(-1)).toMatchObject({ seq: 3, exitStatus: 126, error: 'no such session (it ended or never opened)' });
  });

  it('a session the server closed before it opened ends as soon as it opens; lines waiting for it are refused', async () => {
    const { live, sent } = harness({ openGraceMs: 5000 });
    const id = randomUUID();
    live.command(line(id, 1, 'cd /tmp'));
    live.close({ sessionId: id, reason: 'Cancelled' });
    expect(sent).toEqual([expect.objectContaining({ type: 'liveDone', seq: 1, exitStatus: 126, error: 'no such session (it ended or never opened)' })]);
    expect(await live.open(id, SETTINGS, new AbortController().signal)).toEqual({ endReason: 'Cancelled', commands: 0, failed: 0 });
    expect(live.sessionIds()).toEqual([]);
  });

  it('runs lines in order, as a shell does; liveCancel stops the running line (130) and the next one starts', async () => {
    const { live, run, outputs, textOf, done } = harness();
    const id = randomUUID();
    const ended = live.open(id, SETTINGS, new AbortController().signal);
    live.command(line(id, 1, 'hang'));
    live.command(line(id, 2, 'hang'));
    await waitFor('the first line to start', () => outputs(id, 1).length > 0);
    await settle();
    // The second waits for the first, as `cd x` then `pwd` must.
    expect(outputs(id, 2)).toEqual([]);
    live.cancel({ sessionId: id, seq: 1 });
    expect(await done(id, 1)).toMatchObject({ exitStatus: 130, error: null });
    expect(textOf(id, 1)).toBe('started\nhang: cancelled\n');
    await waitFor('the second line to start', () => outputs(id, 2).length > 0);
    // Cancelling an ended or unknown line does nothing.
    live.cancel({ sessionId: id, seq: 1 });
    live.cancel({ sessionId: id, seq: 99 });
    await settle();
    expect(live.sessionIds()).toEqual([id]);
    live.cancel({ sessionId: id, seq: 2 });
    expect((await done(id, 2)).exitStatus).toBe(130);
    expect((await run(id, 3, 'pwd')).done.exitStatus).toBe(0);
    live.close({ sessionId: id, reason: 'Ended' });
    expect(await ended).toEqual({ endReason: 'Ended', commands: 3, failed: 2 });
  });

  it('runs `cd` then `pwd` sent back to back in order, and answers `jobs` while a line runs', async () => {
    const { live, outputs, textOf, done } = harness();
    const id = randomUUID();
    void live.open(id, SETTINGS, new AbortController().signal);
    live.command(line(id, 1, 'cd /tmp'));
    live.command(line(id, 2, 'pwd'));
    expect(await done(id, 2)).toMatchObject({ exitStatus: 0, cwd: '/tmp' });
    expect(textOf(id, 2)).toBe('/tmp\n');
    live.command(line(id, 3, 'hang'));
    await waitFor('the hanging line to start', () => outputs(id, 3).length > 0);
    live.command(line(id, 4, 'jobs'));
    expect((await done(id, 4)).exitStatus).toBe(0);
    expect(textOf(id, 4)).toContain('hang');
    live.cancel({ sessionId: id, seq: 3 });
    expect((await done(id, 3)).exitStatus).toBe(130);
  });

  it('liveClose ends the session with its reason: running lines are stopped and answered first, later lines refused', async () => {
    const { live, sent, done } = harness();
    const id = randomUUID();
    const ended = live.open(id, SETTINGS, new AbortController().signal);
    live.command(line(id, 1, 'hang'));
    await settle();
    live.close({ sessionId: id, reason: 'AgentRestarted' });
    const summary = await ended;
    expect(summary).toEqual({ endReason: 'AgentRestarted', commands: 1, failed: 1 });
    // The line's end was sent before the session's end was reported.
    expect(await done(id, 1)).toMatchObject({ exitStatus: 130 });
    expect(textSent(sent)).toBe('started\nhang: stopped: the session ended\n');
    expect(live.sessionIds()).toEqual([]);
    live.command(line(id, 2, 'pwd'));
    expect((sent.at(-1) as LiveDoneFrame).error).toBe('no such session (it ended or never opened)');
  });

  it("aborting the session action's signal (the server cancelled it) ends the session as Cancelled", async () => {
    const { live, done } = harness();
    const id = randomUUID();
    const action = new AbortController();
    const ended = live.open(id, SETTINGS, action.signal);
    live.command(line(id, 1, 'hang'));
    await settle();
    action.abort(new Error('cancelled by the server'));
    expect(await ended).toEqual({ endReason: 'Cancelled', commands: 1, failed: 1 });
    expect((await done(id, 1)).exitStatus).toBe(130);
    // Already aborted: the session ends as soon as it opens.
    expect(await live.open(randomUUID(), SETTINGS, action.signal)).toEqual({ endReason: 'Cancelled', commands: 0, failed: 0 });
    expect(live.sessionIds()).toEqual([]);
  });

  it('a session idle for its time-out ends, but never while a line runs', async () => {
    const { live, run, done } = harness({ idleTimeoutMsOverride: 80 });
    const quiet = randomUUID();
    const t0 = Date.now();
    expect(await live.open(quiet, SETTINGS, new AbortController().signal)).toEqual({ endReason: 'IdleTimeout', commands: 0, failed: 0 });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(75);

    const busy = randomUUID();
    let over = false;
    const ended = live.open(busy, SETTINGS, new AbortController().signal).then((s) => ((over = true), s));
    // Lines keep it open: each restarts the clock.
    for (let seq = 1; seq <= 4; seq++) {
      await sleep(40);
      expect((await run(busy, seq, 'pwd')).done.exitStatus).toBe(0);
    }
    // A line running longer than the time-out keeps it open too.
    live.command(line(busy, 5, 'hang'));
    await sleep(250);
    expect(over).toBe(false);
    live.cancel({ sessionId: busy, seq: 5 });
    expect((await done(busy, 5)).exitStatus).toBe(130);
    expect(await ended).toEqual({ endReason: 'IdleTimeout', commands: 5, failed: 1 });
  });

  it('refuses to open a session twice', async () => {
    const { live } = harness();
    const id = randomUUID();
    const ended = live.open(id, SETTINGS, new AbortController().signal);
    await expect(live.open(id, SETTINGS, new AbortController().signal)).rejects.toThrow(`live response session ${id} is already open`);
    live.close({ sessionId: id, reason: 'Ended' });
    expect((await ended).endReason).toBe('Ended');
  });

  it('coalesces many small writes into few frames, the text exact and in order', async () => {
    const { live, run } = harness();
    const id = randomUUID();
    void live.open(id, SETTINGS, new AbortController().signal);
    const started = Date.now();
    const r = await run(id, 1, 'chatty 10000');
    const expected = Array.from({ length: 10_000 }, (_, i) => `line ${i}\n`).join('');
    expect(r.output).toBe(expected);
    expect(r.done.exitStatus).toBe(0);
    // Frames go at most every 20 ms or per 16 KiB: far under one per write.
    expect(r.frames).toBeLessThan(100);
    expect(r.frames).toBeLessThanOrEqual(Math.ceil((Date.now() - started) / 20) + Math.ceil(expected.length / (16 * 1024)) + 1);
    live.close({ sessionId: id, reason: 'Ended' });
  });

  it('keeps a command writing steadily within the live frame pace, gathering its output into fuller frames', async () => {
    const pace = { perSecond: 10, burst: 2 };
    const { live, run } = harness({ pace });
    const id = randomUUID();
    void live.open(id, SETTINGS, new AbortController().signal);
    const started = Date.now();
    // About 400 ms of a line every 2 ms: unpaced, a frame every 20 ms.
    const r = await run(id, 1, 'chatty 200 2');
    const seconds = (Date.now() - started) / 1000;
    expect(r.output).toBe(Array.from({ length: 200 }, (_, i) => `line ${i}\n`).join(''));
    // Output frames and the liveDone together stay within the bucket.
    expect(r.frames + 1).toBeLessThanOrEqual(pace.burst + Math.ceil(seconds * pace.perSecond) + 1);
    live.close({ sessionId: id, reason: 'Ended' });
  });

  it('splits big output at the frame limit without splitting a character', async () => {
    const { live, run, outputs } = harness();
    const id = randomUUID();
    void live.open(id, SETTINGS, new AbortController().signal);
    const ascii = await run(id, 1, 'big ascii 200000');
    expect(ascii.output).toBe('x'.repeat(200_000));
    const emoji = await run(id, 2, 'big emoji 40000');
    expect(emoji.output).toBe(`a${'😀'.repeat(40_000)}`);
    expect(ascii.sizes.reduce((a, b) => a + b)).toBe(200_000);
    expect(Math.max(...ascii.sizes, ...emoji.sizes)).toBeLessThanOrEqual(MAX_LIVE_OUTPUT_CHARS);
    expect(ascii.frames).toBeGreaterThanOrEqual(Math.ceil(200_000 / MAX_LIVE_OUTPUT_CHARS));
    // Every frame of the emoji text is whole characters: none starts with the second half of a pair.
    const frames = outputs(id, 2).map((f) => f.text);
    expect(frames.length).toBeGreaterThan(1);
    for (const t of frames) expect(t.charCodeAt(0) >= 0xdc00 && t.charCodeAt(0) <= 0xdfff).toBe(false);
    live.close({ sessionId: id, reason: 'Ended' });
  });

  it('keeps a small structured result in liveDone and leaves out one over 256 KiB', async () => {
    const { live, run } = harness();
    const id = randomUUID();
    void live.open(id, SETTINGS, new AbortController().signal);
    expect((await run(id, 1, 'data 100')).done.data).toEqual({ blob: 'd'.repeat(100) });
    const large = await run(id, 2, 'data 300000');
    expect(large.done).toMatchObject({ exitStatus: 0, truncated: false });
    expect(large.done).not.toHaveProperty('data');
    expect(large.output).toBe('ok\n');
    live.close({ sessionId: id, reason: 'Ended' });
  });

  it('sends best-effort: a line runs to its end while the connection is down', async () => {
    let up = false;
    const attempted: AgentFrame[] = [];
    const sent: AgentFrame[] = [];
    const { live } = harness({
      send: (f) => {
        attempted.push(f);
        if (up) sent.push(f);
        return up;
      },
    });
    const id = randomUUID();
    const ended = live.open(id, SETTINGS, new AbortController().signal);
    live.command(line(id, 1, 'cd /tmp'));
    while (!attempted.some((f) => f.type === 'liveDone')) await sleep(5);
    expect(sent).toEqual([]);
    up = true;
    live.command(line(id, 2, 'pwd'));
    while (!sent.some((f) => f.type === 'liveDone')) await sleep(5);
    // The line sent while down still ran: the next one sees its cd.
    expect(textSent(sent)).toBe('/tmp\n');
    live.close({ sessionId: id, reason: 'Ended' });
    expect(await ended).toEqual({ endReason: 'Ended', commands: 2, failed: 0 });
  });

  it("types a shell's signed input chunks in order, once each; forged, mismatched and replayed chunks are dropped; its output is raw", async () => {
    const { live, done, textOf } = harness();
    const id = randomUUID();
    const ended = live.open(id, SETTINGS, new AbortController().signal);
    const params = { ...payload(id, 1, 'shell'), parameters: { sessionId: id, seq: 1, line: 'shell', terminal: { cols: 100, rows: 30 } } };
    live.command({ type: 'liveCommand', sessionId: id, seq: 1, command: signer.sign(params) });
    // Chunks may come before the shell starts: they are held for it.
    live.input(input(id, 1, 1, { data: 'ab' }));
    live.input(input(id, 1, 2, { data: '\x1b[1mcd' }));
    live.input(input(id, 1, 2, { data: 'REPLAYED' }));
    live.input(input(id, 1, 3, { data: 'FORGED' }, { by: new CommandSigner(generateSigningKey().privateKeyPem) }));
    live.input(input(id, 1, 3, { data: 'OTHER LINE' }, { signedSeq: 7 }));
    live.input(input(id, 1, 4, { cols: 120, rows: 40 }));
    live.input(input(id, 2, 1, { data: 'NO SUCH LINE' }));
    live.input(input(id, 1, 5, { data: 'q' }));
    const d = await done(id, 1);
    expect(d).toMatchObject({ exitStatus: 0, error: null });
    expect(textOf(id, 1)).toBe('[100x30]ab\x1b[1mcd[120x40]q');
    live.close({ sessionId: id, reason: 'Ended' });
    expect(await ended).toMatchObject({ endReason: 'Ended' });
  });
});
