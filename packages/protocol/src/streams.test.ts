import { describe, expect, it } from 'vitest';
import { AgentFrame, MAX_AGENT_FRAME_BYTES, MAX_SERVER_FRAME_BYTES, ServerFrame } from './envelope.js';
import { refuseStream, STREAM_CHUNK_BYTES, StreamClosedError, StreamReceiver, StreamSender, type StreamFrame } from './streams.js';

const ID = '00000000-0000-4000-8000-000000000001';
const OWNER = '00000000-0000-4000-8000-0000000000aa';
const settle = () => new Promise((r) => setImmediate(r));

/**
 * A sender on the agent and a receiver on the server, joined the way the wire joins them: every
 * frame is serialized, validated by the envelope and delivered later, never synchronously.
 */
function pipe(window: number, opts: { maxBytes?: number } = {}) {
  const log: StreamFrame[] = [];
  const deliver = (schema: typeof AgentFrame | typeof ServerFrame, to: () => { handle(f: StreamFrame): boolean }) => (f: StreamFrame) => {
    const parsed = schema.parse(JSON.parse(JSON.stringify(f))) as StreamFrame;
    log.push(parsed);
    setImmediate(() => to().handle(parsed));
  };
  const receiver: StreamReceiver = new StreamReceiver({ streamId: ID, window, send: deliver(ServerFrame, () => sender), ...opts });
  const sender: StreamSender = new StreamSender({ streamId: ID, send: deliver(AgentFrame, () => receiver) });
  const sentBytes = () => log.filter((f) => f.type === 'streamData').reduce((n, f) => n + Buffer.from(f.data, 'base64').length, 0);
  return { sender, receiver, log, sentBytes };
}

describe('stream frames', () => {
  it('refuses a data frame over the per-frame budget, and a full one fits both peers\' frame limits', () => {
    const full = { type: 'streamData', streamId: ID, seq: 0, data: Buffer.alloc(STREAM_CHUNK_BYTES, 0xff).toString('base64') };
    expect(AgentFrame.safeParse(full).success).toBe(true);
    expect(ServerFrame.safeParse(full).success).toBe(true);
    expect(Buffer.byteLength(JSON.stringify(full))).toBeLessThan(Math.min(MAX_AGENT_FRAME_BYTES, MAX_SERVER_FRAME_BYTES) / 8);
    for (const size of [STREAM_CHUNK_BYTES + 1, STREAM_CHUNK_BYTES + 2, STREAM_CHUNK_BYTES * 2]) {
      const over = { ...full, data: Buffer.alloc(size).toString('base64') };
      expect(AgentFrame.safeParse(over).success, String(size)).toBe(false);
      expect(ServerFrame.safeParse(over).success, String(size)).toBe(false);
    }
    const bad = [{ ...full, data: '' }, { ...full, data: 'not base64!' }, { ...full, seq: -1 }, { type: 'streamCredit', streamId: ID, bytes: 0 }, { type: 'streamOpen', streamId: ID, kind: 'shell', ownerId: OWNER, credit: 1 }, { type: 'streamClose', streamId: ID, reason: 'Completed', extra: 1 }];
    for (const f of bad) expect(AgentFrame.safeParse(f).success, JSON.stringify(f).slice(0, 80)).toBe(false);
  });

  it('answers a stream it does not have with a close, and never answers a close', () => {
    expect(refuseStream({ type: 'streamOpen', streamId: ID, kind: 'liveResponse', ownerId: OWNER, credit: 10 }, 'no sessions')).toEqual({ type: 'streamClose', streamId: ID, reason: 'Unsupported', detail: 'no sessions' });
    expect(refuseStream({ type: 'streamCredit', streamId: ID, bytes: 10 }, 'no sessions')?.type).toBe('streamClose');
    expect(refuseStream({ type: 'streamClose', streamId: ID, reason: 'Unsupported' }, 'no sessions')).toBeNull();
  });
});

describe('stream flow control', () => {
  it('stops a sender at the credit of a slow consumer, and resumes as it reads', async () => {
    const window = 100 * 1024;
    const { sender, receiver, log, sentBytes } = pipe(window);
    receiver.open('fileTransfer', OWNER);
    expect(log[0]).toEqual({ type: 'streamOpen', streamId: ID, kind: 'fileTransfer', ownerId: OWNER, credit: window });
    // The agent side takes the opener's grant from streamOpen.
    sender.handle({ type: 'streamCredit', streamId: ID, bytes: window });
    const payload = Buffer.from(Array.from({ length: 1024 * 1024 }, (_, i) => (i * 7) % 251));
    let written = false;
    const writing = sender.write(payload).then(() => (written = true));
    for (let i = 0; i < 5; i++) await settle();
    // Nobody reads: the sender stopped exactly at the window, in frames of at most 64 KiB.
    expect(sentBytes()).toBe(window);
    expect(written).toBe(false);
    expect(log.filter((f) => f.type === 'streamData').map((f) => f.type === 'streamData' && f.seq)).toEqual([0, 1]);
    const got: Buffer[] = [];
    let granted = window;
    while (Buffer.concat(got).length < payload.length) {
      const chunk = await receiver.read();
      got.push(chunk!);
      await settle();
      granted = window + log.filter((f) => f.type === 'streamCredit').reduce((n, f) => n + (f.type === 'streamCredit' ? f.bytes : 0), 0);
      // Never more out than the receiver granted.
      expect(sentBytes()).toBeLessThanOrEqual(granted);
    }
    await writing;
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    // Credit goes back in halves of the window, not one frame per chunk.
    expect(log.filter((f) => f.type === 'streamCredit').length).toBeLessThan(log.filter((f) => f.type === 'streamData').length);
    await sender.end();
    await settle();
    expect(await receiver.read()).toBeNull();
  });

  it('closes the stream on a sequence gap or repeat, before taking the bytes', async () => {
    for (const seqs of [[0, 2], [0, 0], [1]]) {
      const sent: StreamFrame[] = [];
      const r = new StreamReceiver({ streamId: ID, window: 1024, send: (f) => sent.push(f) });
      for (const seq of seqs) r.handle({ type: 'streamData', streamId: ID, seq, data: Buffer.from('abc').toString('base64') });
      expect(sent.at(-1), String(seqs)).toMatchObject({ type: 'streamClose', streamId: ID, reason: 'ProtocolError', detail: expect.stringMatching(/^expected data frame \d, got \d$/) });
      // Nothing is delivered after a broken stream, not even what came before the gap.
      await expect(r.read()).rejects.toMatchObject({ reason: 'ProtocolError', byPeer: false });
    }
  });

  it('closes the stream when the sender overruns its credit or the stream budget', async () => {
    const chunk = (n: number, seq: number): StreamFrame => ({ type: 'streamData', streamId: ID, seq, data: Buffer.alloc(n).toString('base64') });
    const sent: StreamFrame[] = [];
    const r = new StreamReceiver({ streamId: ID, window: 100, send: (f) => sent.push(f) });
    r.handle(chunk(60, 0));
    r.handle(chunk(60, 1));
    expect(sent.at(-1)).toMatchObject({ reason: 'ProtocolError', detail: '60 bytes sent against 40 bytes of credit' });
    const budget: StreamFrame[] = [];
    const b = new StreamReceiver({ streamId: ID, window: 1000, maxBytes: 100, send: (f) => budget.push(f) });
    b.handle(chunk(80, 0));
    b.handle(chunk(80, 1));
    expect(budget.at(-1)).toMatchObject({ reason: 'ProtocolError', detail: 'the stream is over its 100-byte budget' });
    // A receiver ignores frames of other streams (the caller routes by stream id).
    expect(b.handle({ ...chunk(1, 0), streamId: '00000000-0000-4000-8000-000000000002' })).toBe(false);
  });

  it('propagates a close both ways: the reader cancels the writer, the writer fails or ends the reader', async () => {
    // Reader cancels: the pending write fails with the reader's reason.
    const a = pipe(1024);
    a.sender.handle({ type: 'streamCredit', streamId: ID, bytes: 1024 });
    const w = a.sender.write(Buffer.alloc(4096));
    await settle();
    a.receiver.close('Cancelled', 'operator closed the session');
    await expect(w).rejects.toMatchObject({ reason: 'Cancelled', detail: 'operator closed the session', byPeer: true });
    await expect(a.sender.write(Buffer.alloc(1))).rejects.toBeInstanceOf(StreamClosedError);
    // Writer aborts: the reader gets what arrived, then the writer's reason.
    const b = pipe(1024);
    b.sender.handle({ type: 'streamCredit', streamId: ID, bytes: 1024 });
    await b.sender.write(Buffer.from('partial'));
    b.sender.abort('Failed', 'disk read error');
    await settle();
    expect((await b.receiver.read())?.toString()).toBe('partial');
    await expect(b.receiver.read()).rejects.toMatchObject({ reason: 'Failed', detail: 'disk read error', byPeer: true });
    expect(b.log.at(-1)).toEqual({ type: 'streamClose', streamId: ID, reason: 'Failed', detail: 'disk read error' });
    // A reader waiting when the writer completes gets the end.
    const c = pipe(1024);
    const pending = c.receiver.read();
    await c.sender.end();
    await settle();
    expect(await pending).toBeNull();
  });
});
