import { z } from 'zod';

/*
 * Streams carry bytes that do not fit one frame (live-response sessions, file transfers) over the
 * agent's WebSocket, in either direction. A stream has one id for both directions; bytes in each
 * direction are numbered from 0 and flow only against credit granted by their receiver, so a slow
 * reader holds at most its window in memory and a fast sender never floods the connection.
 * `streamOpen` carries the opener's first grant to its peer; after that, `streamCredit` frames.
 *
 * Data travels as base64 inside the same JSON frames as everything else, not as binary WebSocket
 * messages: the gateway refuses binary messages and every frame is validated by the one zod union
 * before routing ("one envelope"); a second, binary framing path would need its own header format,
 * validation and frame budget on both sides. Base64 costs a third more bytes on the wire, which is
 * acceptable for 64 KiB chunks: bulk uploads (investigation packages) keep their HTTP chunk path.
 * A full data frame is about 88 KiB of JSON, well under both peers' frame limits (MAX_AGENT_FRAME_BYTES,
 * MAX_SERVER_FRAME_BYTES), which therefore need not be raised. Stream frames also count against the
 * gateway's per-connection frame budget, like every other frame.
 */

/** Most payload bytes one `streamData` frame may carry. */
export const STREAM_CHUNK_BYTES = 64 * 1024;
/** Most credit a receiver may hold out at once (and so buffer), per stream and direction. */
export const MAX_STREAM_CREDIT = 16 * 1024 * 1024;
/** Base64 text of STREAM_CHUNK_BYTES bytes. */
const MAX_CHUNK_CHARS = 4 * Math.ceil(STREAM_CHUNK_BYTES / 3);

/** Bytes a (padded) base64 string decodes to, without decoding it. */
export function base64Bytes(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.floor((text.length * 3) / 4) - padding;
}

const StreamId = z.uuid();

export const StreamKind = z.enum(['liveResponse', 'fileTransfer']);
export type StreamKind = z.infer<typeof StreamKind>;

export const StreamCloseReason = z.enum(['Completed', 'Cancelled', 'Failed', 'Unsupported', 'ProtocolError']);
export type StreamCloseReason = z.infer<typeof StreamCloseReason>;

export const StreamOpen = z.strictObject({
  type: z.literal('streamOpen'),
  streamId: StreamId,
  kind: StreamKind,
  /** The action or live-response session the stream belongs to. */
  ownerId: z.uuid(),
  /** Bytes the peer may send the opener before its first `streamCredit`. */
  credit: z.number().int().nonnegative().max(MAX_STREAM_CREDIT),
});

export const StreamData = z.strictObject({
  type: z.literal('streamData'),
  streamId: StreamId,
  /** 0, 1, 2… per stream and direction: a gap or a repeat closes the stream. */
  seq: z.number().int().nonnegative(),
  /** 1 to STREAM_CHUNK_BYTES bytes, base64. */
  data: z
    .base64()
    .min(4)
    .max(MAX_CHUNK_CHARS)
    .refine((s) => base64Bytes(s) <= STREAM_CHUNK_BYTES, { message: `a stream data frame carries at most ${STREAM_CHUNK_BYTES} bytes` }),
});

export const StreamCredit = z.strictObject({
  type: z.literal('streamCredit'),
  streamId: StreamId,
  /** More bytes the peer may send, on top of what it was granted before. */
  bytes: z.number().int().positive().max(MAX_STREAM_CREDIT),
});

export const StreamClose = z.strictObject({
  type: z.literal('streamClose'),
  streamId: StreamId,
  reason: StreamCloseReason,
  detail: z.string().max(512).optional(),
});

/** The stream frames; both peers send all four. */
export const StreamFrame = z.discriminatedUnion('type', [StreamOpen, StreamData, StreamCredit, StreamClose]);
export type StreamFrame = z.infer<typeof StreamFrame>;

/** How a stream ended, as a read or write on it sees it. */
export class StreamClosedError extends Error {
  constructor(
    readonly reason: StreamCloseReason,
    readonly detail: string | undefined,
    /** True when the peer closed it, false when this side did. */
    readonly byPeer: boolean,
  ) {
    super(`stream closed (${reason})${detail ? `: ${detail}` : ''}`);
    this.name = 'StreamClosedError';
  }
}

/**
 * The answer to a stream frame for a stream this side does not have (or no stream feature at
 * all): close it, with why. A close is never answered, or two peers would bounce closes forever.
 */
export function refuseStream(frame: StreamFrame, detail: string): StreamFrame | null {
  if (frame.type === 'streamClose') return null;
  return { type: 'streamClose', streamId: frame.streamId, reason: 'Unsupported', detail: detail.slice(0, 512) };
}

type Send = (frame: StreamFrame) => void;

/**
 * The sending half of a stream: `write` resolves once every byte went out through `send`, and
 * never sends more than the receiver's credit, so a slow receiver holds the writer back.
 */
export class StreamSender {
  readonly streamId: string;
  readonly #send: Send;
  #credit: number;
  #seq = 0;
  #closed: StreamClosedError | null = null;
  #wake: (() => void) | null = null;
  /** Writes go out one after another, never interleaved. */
  #tail: Promise<void> = Promise.resolve();

  constructor(opts: { streamId: string; send: Send; credit?: number }) {
    this.streamId = opts.streamId;
    this.#send = opts.send;
    this.#credit = opts.credit ?? 0;
  }

  /** Bytes that may be sent right now. */
  get credit(): number {
    return this.#credit;
  }

  /** Sends `chunk`, split into frames of at most STREAM_CHUNK_BYTES, as credit allows. */
  write(chunk: Uint8Array): Promise<void> {
    const run = this.#tail.then(() => this.#write(chunk));
    this.#tail = run.catch(() => undefined);
    return run;
  }

  /** After the pending writes: tells the receiver the stream is complete. */
  async end(): Promise<void> {
    await this.#tail;
    if (this.#closed) throw this.#closed;
    this.#finish('Completed', undefined);
  }

  /** Stops now: pending writes fail, and the peer is told why. */
  abort(reason: Exclude<StreamCloseReason, 'Completed'>, detail?: string): void {
    if (!this.#closed) this.#finish(reason, detail);
  }

  /** Takes the receiver's `streamCredit` and `streamClose` frames; false for frames that are not its own. */
  handle(frame: StreamFrame): boolean {
    if (frame.streamId !== this.streamId) return false;
    if (frame.type === 'streamCredit') {
      if (this.#closed) return true;
      if (this.#credit + frame.bytes > MAX_STREAM_CREDIT) {
        this.#finish('ProtocolError', `credit over ${MAX_STREAM_CREDIT} bytes`);
        return true;
      }
      this.#credit += frame.bytes;
    } else if (frame.type === 'streamClose') {
      this.#closed ??= new StreamClosedError(frame.reason, frame.detail, true);
    } else {
      return false;
    }
    this.#wakeUp();
    return true;
  }

  async #write(chunk: Uint8Array): Promise<void> {
    let at = 0;
    while (at < chunk.length) {
      if (this.#closed) throw this.#closed;
      if (this.#credit === 0) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        continue;
      }
      const n = Math.min(this.#credit, STREAM_CHUNK_BYTES, chunk.length - at);
      const piece = Buffer.from(chunk.buffer, chunk.byteOffset + at, n);
      this.#credit -= n;
      at += n;
      this.#send({ type: 'streamData', streamId: this.streamId, seq: this.#seq++, data: piece.toString('base64') });
    }
  }

  #finish(reason: StreamCloseReason, detail: string | undefined): void {
    this.#closed = new StreamClosedError(reason, detail, false);
    this.#send({ type: 'streamClose', streamId: this.streamId, reason, ...(detail ? { detail } : {}) });
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}

/**
 * The receiving half of a stream: checks each data frame (sequence, size, credit, total budget),
 * buffers at most `window` bytes, and grants credit back as the consumer reads. A broken rule
 * closes the stream with ProtocolError; it never throws at the transport.
 */
export class StreamReceiver {
  readonly streamId: string;
  readonly #send: Send;
  readonly #window: number;
  readonly #maxBytes: number;
  #nextSeq = 0;
  /** Credit the sender still holds. */
  #outstanding: number;
  /** Bytes read since the last grant. */
  #unacked = 0;
  #received = 0;
  readonly #queue: Buffer[] = [];
  #ended: StreamClosedError | null = null;
  #wake: (() => void) | null = null;

  constructor(opts: { streamId: string; send: Send; window: number; maxBytes?: number }) {
    if (!Number.isInteger(opts.window) || opts.window < 1 || opts.window > MAX_STREAM_CREDIT) throw new Error(`a stream window is 1 to ${MAX_STREAM_CREDIT} bytes`);
    this.streamId = opts.streamId;
    this.#send = opts.send;
    this.#window = opts.window;
    this.#maxBytes = opts.maxBytes ?? Number.POSITIVE_INFINITY;
    this.#outstanding = opts.window;
  }

  /** As the opener: sends `streamOpen` granting the window. */
  open(kind: StreamKind, ownerId: string): void {
    this.#send({ type: 'streamOpen', streamId: this.streamId, kind, ownerId, credit: this.#window });
  }

  /** As the peer of the opener: grants the window with a first `streamCredit`. */
  start(): void {
    this.#send({ type: 'streamCredit', streamId: this.streamId, bytes: this.#window });
  }

  /** The next chunk, in order; null once the sender completed the stream; throws if it was closed otherwise. */
  async read(): Promise<Buffer | null> {
    for (;;) {
      const chunk = this.#queue.shift();
      if (chunk) {
        this.#consumed(chunk.length);
        return chunk;
      }
      if (this.#ended) {
        if (this.#ended.reason === 'Completed' && this.#ended.byPeer) return null;
        throw this.#ended;
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  /** The consumer gives up: the sender is told, reads fail. */
  close(reason: Exclude<StreamCloseReason, 'Completed'> = 'Cancelled', detail?: string): void {
    if (!this.#ended) this.#fail(reason, detail);
  }

  /** Takes the sender's `streamData` and `streamClose` frames; false for frames that are not its own. */
  handle(frame: StreamFrame): boolean {
    if (frame.streamId !== this.streamId) return false;
    if (frame.type === 'streamData') this.#accept(frame.seq, frame.data);
    else if (frame.type === 'streamClose') this.#ended ??= new StreamClosedError(frame.reason, frame.detail, true);
    else return false;
    this.#wakeUp();
    return true;
  }

  #accept(seq: number, data: string): void {
    if (this.#ended) return;
    if (seq !== this.#nextSeq) return this.#fail('ProtocolError', `expected data frame ${this.#nextSeq}, got ${seq}`);
    this.#nextSeq++;
    // Sizes are checked before decoding: nothing over budget is ever allocated.
    const size = base64Bytes(data);
    if (size > STREAM_CHUNK_BYTES) return this.#fail('ProtocolError', `a data frame of ${size} bytes is over the ${STREAM_CHUNK_BYTES}-byte limit`);
    if (size > this.#outstanding) return this.#fail('ProtocolError', `${size} bytes sent against ${this.#outstanding} bytes of credit`);
    if (this.#received + size > this.#maxBytes) return this.#fail('ProtocolError', `the stream is over its ${this.#maxBytes}-byte budget`);
    this.#outstanding -= size;
    this.#received += size;
    this.#queue.push(Buffer.from(data, 'base64'));
  }

  #consumed(bytes: number): void {
    this.#unacked += bytes;
    // Granting in halves of the window rather than per chunk keeps credit frames few.
    if (this.#ended || this.#unacked * 2 < this.#window) return;
    this.#outstanding += this.#unacked;
    this.#send({ type: 'streamCredit', streamId: this.streamId, bytes: this.#unacked });
    this.#unacked = 0;
  }

  #fail(reason: StreamCloseReason, detail: string | undefined): void {
    this.#ended = new StreamClosedError(reason, detail, false);
    this.#queue.length = 0;
    this.#send({ type: 'streamClose', streamId: this.streamId, reason, ...(detail ? { detail } : {}) });
    this.#wakeUp();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }
}
