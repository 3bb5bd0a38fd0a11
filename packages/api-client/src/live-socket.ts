import { ApiRequestError, apiRequestError } from './index.js';
import type { components } from './openapi.js';

type LiveCommand = components['schemas']['LiveCommand'];
type LiveInputAccepted = components['schemas']['LiveInputAccepted'];

/** What both the browser's WebSocket and `ws`'s offer; the client needs no more. */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open', listener: () => void): void;
  addEventListener(type: 'message', listener: (e: { data: unknown }) => void): void;
  addEventListener(type: 'close', listener: (e: { code: number; reason: string }) => void): void;
  addEventListener(type: 'error', listener: () => void): void;
}

export type LiveSocketEventType = 'state' | 'command' | 'output' | 'done';

export interface LiveSocketOptions {
  /** Opens the session's socket (`GET /api/liveResponseSessions/{id}/socket`). */
  connect: () => SocketLike;
  /** Each connection, the first and every reconnection: the session's events follow from its start again. */
  onOpen: () => void;
  onEvent: (type: LiveSocketEventType, data: unknown) => void;
  /** The socket is closed for good: the credential no longer holds (401) or the session is gone (404). */
  onGone: (error: ApiRequestError) => void;
  /**
   * Asked after a connection that never opened (an upgrade refused with 401/403/404 tells nothing
   * more): a rejection with an API error gives up with it, anything else tries again.
   */
  probe: () => Promise<unknown>;
  reconnectMs?: number;
}

/** The close codes the server gives up with, and what they mean to the client. */
const GONE: Record<number, [number, string]> = { 4401: [401, 'Unauthorized'], 4404: [404, 'ResourceNotFound'] };
const OPEN = 1;
/** Reconnects as the session's event stream told EventSource to (`retry: 2000`). */
const RECONNECT_MS = 2_000;

type Answer = { resolve: (value: never) => void; reject: (e: ApiRequestError) => void };

/**
 * A live-response session over its one WebSocket: lines, keystrokes and Ctrl-C go out as messages,
 * each answered by its `ref` (the promise of `run`, `input`, `cancel`), and the session's events
 * come in as they do on its stream. A dropped connection reconnects after a short wait and the
 * events replay from the start (the caller skips what it showed). A request made while connecting
 * waits for that connection; one that got no answer before the connection dropped fails with
 * status 0, as a request to an unreachable server does (resending could run a line twice).
 */
export class LiveSocket {
  readonly #opts: LiveSocketOptions;
  #socket: SocketLike | null = null;
  #opened = false;
  #closed = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #nextRef = 1;
  readonly #answers = new Map<number, Answer>();
  /** Requests made while the socket was not open: sent once it opens, failed if it does not. */
  #outbox: { ref: number; text: string }[] = [];

  constructor(opts: LiveSocketOptions) {
    this.#opts = opts;
    this.#connect();
  }

  /** Runs a line (`cols`/`rows`: the terminal a `shell` line gets). */
  run(line: string, terminal?: { cols: number; rows: number }): Promise<LiveCommand> {
    return this.#request({ type: 'line', line, ...terminal });
  }

  /** Keystrokes and/or a new terminal size for a running `shell` line. */
  input(seq: number, body: { data?: string; cols?: number; rows?: number }): Promise<LiveInputAccepted> {
    return this.#request({ type: 'input', seq, ...body });
  }

  /** Ctrl-C: stops the running line `seq`. */
  cancel(seq: number): Promise<LiveCommand> {
    return this.#request({ type: 'cancel', seq });
  }

  /** Closes the socket for good: no reconnection, and what is unanswered fails. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#socket?.close(1000);
    this.#socket = null;
    this.#fail(new ApiRequestError(0, 'Unreachable', 'the live-response session was closed'));
  }

  #request<T>(message: object): Promise<T> {
    if (this.#closed) return Promise.reject(new ApiRequestError(0, 'Unreachable', 'the live-response session was closed'));
    const ref = this.#nextRef++;
    const text = JSON.stringify({ ...message, ref });
    return new Promise<T>((resolve, reject) => {
      this.#answers.set(ref, { resolve: resolve as (value: never) => void, reject });
      if (this.#socket?.readyState === OPEN) this.#socket.send(text);
      else this.#outbox.push({ ref, text });
    });
  }

  #connect(): void {
    const socket = (this.#socket = this.#opts.connect());
    this.#opened = false;
    socket.addEventListener('open', () => {
      if (this.#socket !== socket) return;
      this.#opened = true;
      this.#opts.onOpen();
      for (const m of this.#outbox.splice(0)) socket.send(m.text);
    });
    socket.addEventListener('message', (e) => {
      if (this.#socket === socket && typeof e.data === 'string') this.#onMessage(e.data);
    });
    // A failed connection is told by its close ('ws' would throw an error nobody listens to).
    socket.addEventListener('error', () => undefined);
    socket.addEventListener('close', (e) => {
      if (this.#socket !== socket) return;
      this.#socket = null;
      const gone = GONE[e.code];
      if (gone) return this.#give(new ApiRequestError(gone[0], gone[1], e.reason || `the socket closed (${e.code})`));
      const opened = this.#opened;
      this.#fail(new ApiRequestError(0, 'Unreachable', opened ? 'the connection to the server dropped before it answered' : `cannot reach the live-response session: ${e.reason || `closed (${e.code})`}`));
      if (opened) return this.#retry();
      // Never opened: the upgrade may have been refused for good (the session or the credential gone).
      this.#opts.probe().then(
        () => this.#retry(),
        (err: unknown) => (err instanceof ApiRequestError && err.status !== 0 ? this.#give(err) : this.#retry()),
      );
    });
  }

  #retry(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => {
      if (!this.#closed) this.#connect();
    }, this.#opts.reconnectMs ?? RECONNECT_MS);
  }

  #give(error: ApiRequestError): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail(error);
    this.#opts.onGone(error);
  }

  /** Fails every request still waiting for its answer (sent or not). */
  #fail(error: ApiRequestError): void {
    this.#outbox = [];
    const waiting = [...this.#answers.values()];
    this.#answers.clear();
    for (const a of waiting) a.reject(error);
  }

  #onMessage(text: string): void {
    let m: { type?: unknown; ref?: unknown; status?: unknown; data?: unknown; command?: unknown; input?: unknown };
    try {
      m = JSON.parse(text) as typeof m;
    } catch {
      return;
    }
    if (m.type === 'accepted' || m.type === 'error') {
      const answer = typeof m.ref === 'number' ? this.#answers.get(m.ref) : undefined;
      if (!answer) return;
      this.#answers.delete(m.ref as number);
      if (m.type === 'accepted') answer.resolve((m.command ?? m.input) as never);
      else answer.reject(apiRequestError(typeof m.status === 'number' ? m.status : 500, m));
    } else if (m.type === 'state' || m.type === 'command' || m.type === 'output' || m.type === 'done') this.#opts.onEvent(m.type, m.data);
  }
}
