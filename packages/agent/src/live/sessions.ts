import type { Logger } from 'pino';
import {
  LiveCommandParameters,
  LiveCompleteParameters,
  LiveInputParameters,
  parseCommandLine,
  MAX_LIVE_OUTPUT_CHARS,
  verifyCommand,
  type AgentFrame,
  type LiveCommandFrame,
  type LiveCompleteFrame,
  type LiveInputFrame,
  type LiveEndReason,
  type LiveSessionParameters,
} from '@cordon/protocol';
import { z } from 'zod';
import type { LiveShell } from './session.js';
import type { LiveLevel, LiveResult, TerminalInput, TerminalLink } from './types.js';

/** What a session action asked for: its level, whether `shell` is allowed, its idle time-out. */
export type LiveSessionSettings = LiveSessionParameters['session'];

/** How a session ended, and how many lines it answered (`failed`: those not ending with 0, refused ones included). */
export interface LiveSessionSummary {
  endReason: LiveEndReason;
  commands: number;
  failed: number;
}

export interface LiveSessionsDeps {
  machineId: string;
  signingPublicKeyPem: string;
  now: () => Date;
  /** Sends a frame if connected (false when not: live frames are best-effort, the server ends a line lost to a disconnect). */
  send(frame: AgentFrame): boolean;
  createShell(level: LiveLevel, settings: LiveSessionSettings): LiveShell;
  logger: Logger;
  /** Tests: the idle time-out in milliseconds instead of the session's `idleTimeoutSeconds` (at least 60 s). */
  idleTimeoutMsOverride?: number;
  /** The pace of live frames, all sessions together (default {@link LIVE_FRAME_PACE}). */
  pace?: { perSecond: number; burst: number };
  /** How long a line for a session not open yet waits for it (default {@link OPEN_GRACE_MS}). */
  openGraceMs?: number;
}

/** Output is sent once this much has gathered... */
export const OUTPUT_FLUSH_CHARS = 16 * 1024;
/** ...or this long after the first of it, whichever comes first. */
export const OUTPUT_FLUSH_MS = 20;
/**
 * Live frames (output and line ends) per second, all sessions together. The server cuts off an
 * agent sending over 50 frames a second (bursts of 200) in all: live response keeps well under it,
 * leaving room for heartbeats, results and events. Output waiting for its turn gathers into fuller frames.
 */
export const LIVE_FRAME_PACE = { perSecond: 20, burst: 100 };
/** A command's structured result larger than this (JSON) is left out of its liveDone; the text has it all. */
const MAX_DATA_JSON_CHARS = 256 * 1024;
const MAX_ERROR_CHARS = 2048;

const NO_SESSION = 'no such session (it ended or never opened)';

/**
 * The runner acks the session action before the action opens the session (a temp directory is
 * made in between), so the server may send a line a moment before the session is open: such a
 * line waits this long for it. A line for a session that ended is refused at once.
 */
export const OPEN_GRACE_MS = 2000;
/** Lines waiting for their session, per session and in all: the server sends a few at most. */
const MAX_EARLY_LINES = 32;
const MAX_EARLY_SESSIONS = 8;
/** Completions one session answers at once; more are refused (the server sends at most a few a second). */
const MAX_COMPLETIONS_RUNNING = 4;
/** Completion ids remembered until their signed request expires: a replayed request is refused. */
const COMPLETIONS_REMEMBERED = 4096;

/** Ended sessions remembered, so their late lines are refused without waiting. */
const ENDED_REMEMBERED = 256;

/** A token bucket whose takers wait their turn, first come first served. */
class FramePacer {
  #tokens: number;
  #at = performance.now();
  readonly #waiters: (() => void)[] = [];
  #timer?: NodeJS.Timeout;

  constructor(private readonly pace: { perSecond: number; burst: number }) {
    this.#tokens = pace.burst;
  }

  /** Resolves when a frame may be sent. */
  take(): Promise<void> {
    this.#refill();
    if (!this.#waiters.length && this.#tokens >= 1) {
      this.#tokens--;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#schedule();
    });
  }

  /** Counts a frame that must go now (a refusal, answered at once): later takers wait the longer. */
  spend(): void {
    this.#refill();
    this.#tokens--;
  }

  #refill(): void {
    const now = performance.now();
    this.#tokens = Math.min(this.pace.burst, this.#tokens + ((now - this.#at) / 1000) * this.pace.perSecond);
    this.#at = now;
  }

  #schedule(): void {
    if (this.#timer) return;
    const waitMs = Math.max(1, Math.ceil(((1 - this.#tokens) / this.pace.perSecond) * 1000));
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#refill();
      while (this.#waiters.length && this.#tokens >= 1) {
        this.#tokens--;
        this.#waiters.shift()!();
      }
      if (this.#waiters.length) this.#schedule();
    }, waitMs);
  }
}

/** The longest start of `text` of at most `max` UTF-16 units that does not split a surrogate pair. */
function headOf(text: string, max: number): string {
  if (text.length <= max) return text;
  const last = text.charCodeAt(max - 1);
  return text.slice(0, last >= 0xd800 && last <= 0xdbff ? max - 1 : max);
}

/**
 * One line's output on its way to the server: gathered, then sent in `liveOutput` frames of up to
 * {@link MAX_LIVE_OUTPUT_CHARS}, in order, at the pacer's pace. A chatty command's many small
 * writes become a few frames.
 */
class LineOutput {
  #buffer = '';
  #timer?: NodeJS.Timeout;
  /** The send loop, while it runs: only one per line, so frames keep their order. */
  #pumping: Promise<void> | null = null;

  constructor(
    private readonly pacer: FramePacer,
    private readonly sendText: (text: string) => void,
  ) {}

  write(text: string): void {
    this.#buffer += text;
    if (this.#buffer.length >= OUTPUT_FLUSH_CHARS) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), OUTPUT_FLUSH_MS);
  }

  /**
   * Ends the output: what is left once the frames in flight are out and fits in one frame is
   * answered, for the line's liveDone to carry (a short line costs one frame); the rest is sent.
   */
  async end(): Promise<string | undefined> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    for (;;) {
      if (this.#pumping) await this.#pumping;
      else if (this.#buffer.length > MAX_LIVE_OUTPUT_CHARS) this.#flush();
      else {
        const tail = this.#buffer;
        this.#buffer = '';
        return tail || undefined;
      }
    }
  }

  #flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pumping || !this.#buffer) return;
    this.#pumping = (async () => {
      while (this.#buffer) {
        await this.pacer.take();
        const text = headOf(this.#buffer, MAX_LIVE_OUTPUT_CHARS);
        this.#buffer = this.#buffer.slice(text.length);
        this.sendText(text);
      }
    })().finally(() => {
      this.#pumping = null;
    });
  }
}

/** Input chunks held for a shell line, at most: the server sends them as they are typed, the shell takes them at once. */
const MAX_HELD_INPUT = 1024;

/**
 * A `shell` line's terminal: its size, and the keystrokes for it in chunk order (a chunk not
 * after the last one taken is a replay, never typed twice). Chunks that come before the shell
 * has started are held for it.
 */
class TerminalChannel implements TerminalLink {
  #held: TerminalInput[] = [];
  #onInput: ((input: TerminalInput) => void) | null = null;
  #lastChunk = 0;

  constructor(
    readonly cols: number,
    readonly rows: number,
    readonly idleMs: number,
  ) {}

  attach(onInput: (input: TerminalInput) => void): void {
    this.#onInput = onInput;
    for (const input of this.#held.splice(0)) onInput(input);
  }

  /** Takes chunk `chunk`; the reason it is not taken otherwise. */
  push(chunk: number, input: TerminalInput): string | null {
    if (chunk <= this.#lastChunk) return `input chunk ${chunk} is not after chunk ${this.#lastChunk}: a replayed chunk is not typed`;
    if (!this.#onInput && this.#held.length >= MAX_HELD_INPUT) return 'too much input before the shell started';
    this.#lastChunk = chunk;
    if (this.#onInput) this.#onInput(input);
    else this.#held.push(input);
    return null;
  }
}

/** Commands that act on the lines running in the session: they never wait for them. */
const AT_ONCE = new Set(['jobs', 'fg', 'cancel']);

interface OpenSession {
  id: string;
  shell: LiveShell;
  idleMs: number;
  idleTimer?: NodeJS.Timeout;
  lastSeq: number;
  /** Running lines, by seq: Ctrl-C aborts one. */
  running: Map<number, AbortController>;
  /** The terminals of the `shell` lines not ended yet, by seq: their input goes there. */
  terminals: Map<number, TerminalChannel>;
  /** Every line still being answered (run, output flushed, liveDone sent). */
  answering: Set<Promise<void>>;
  /** The last line that runs in order: the next one starts after it, as in a shell (`cd x` then `pwd`). */
  inOrder: Promise<void>;
  commands: number;
  failed: number;
  /** Completions being answered now. */
  completing: number;
  end(reason: LiveEndReason): void;
}

/**
 * The live-response sessions open on this agent, by session id (the session action's id). A
 * session lives as long as its action: it ends on the server's `liveClose`, on the action's
 * cancel, or after its idle time-out with no line running. Each line is a command signed by the
 * server and checked like any (signature, machine, expiry), then for its session and its order
 * (`seq` only grows: a replayed line is refused); a refused line is answered at once with exit
 * status 126 and never run.
 */
export class LiveSessions {
  readonly #sessions = new Map<string, OpenSession>();
  readonly #pacer: FramePacer;
  /** Verified lines that came before their session opened, by session id. */
  readonly #early = new Map<string, { frames: LiveCommandFrame[]; timer: NodeJS.Timeout }>();
  /** Sessions that ended, or that the server closed before they opened, with why; oldest first. */
  readonly #ended = new Map<string, LiveEndReason>();
  /** Completion requests answered, by id, with when their signed command expires (ms); oldest first. */
  readonly #completions = new Map<string, number>();

  constructor(private readonly deps: LiveSessionsDeps) {
    this.#pacer = new FramePacer(deps.pace ?? LIVE_FRAME_PACE);
  }

  /** A shell of its own for a batch of commands (`runliveresponse`), set up as a session's would be. */
  batchShell(level: LiveLevel): LiveShell {
    return this.deps.createShell(level, { level, shell: false, idleTimeoutSeconds: 60 });
  }

  /** Ids of the open sessions. */
  sessionIds(): string[] {
    return [...this.#sessions.keys()];
  }

  /**
   * Opens a session and resolves when it ends, after its running lines were stopped and answered.
   * `signal` is the session action's: aborting it (the server cancelled the action) ends the session as Cancelled.
   */
  open(sessionId: string, settings: LiveSessionSettings, signal: AbortSignal): Promise<LiveSessionSummary> {
    if (this.#sessions.has(sessionId)) return Promise.reject(new Error(`live response session ${sessionId} is already open`));
    // The server closed it before it opened (its close overtook the action's start): it is over already.
    const closed = this.#ended.get(sessionId);
    if (closed) return Promise.resolve({ endReason: closed, commands: 0, failed: 0 });
    const { deps } = this;
    return new Promise<LiveSessionSummary>((resolve) => {
      const session: OpenSession = {
        id: sessionId,
        shell: deps.createShell(settings.level, settings),
        idleMs: deps.idleTimeoutMsOverride ?? settings.idleTimeoutSeconds * 1000,
        lastSeq: 0,
        running: new Map(),
        terminals: new Map(),
        answering: new Set(),
        inOrder: Promise.resolve(),
        commands: 0,
        failed: 0,
        completing: 0,
        end: (reason) => {
          if (this.#sessions.get(sessionId) !== session) return;
          this.#sessions.delete(sessionId);
          this.#remember(sessionId, reason);
          clearTimeout(session.idleTimer);
          signal.removeEventListener('abort', onAbort);
          // The shell stops its running lines (they end with 130, "the session ended") and runs no more.
          session.shell.close();
          for (const stop of session.running.values()) stop.abort(new Error('the session ended'));
          deps.logger.info({ sessionId, reason, commands: session.commands, failed: session.failed }, 'live response session ended');
          // The action's result comes after the last line's liveDone.
          void Promise.allSettled([...session.answering]).then(() => resolve({ endReason: reason, commands: session.commands, failed: session.failed }));
        },
      };
      const onAbort = () => session.end('Cancelled');
      this.#sessions.set(sessionId, session);
      deps.logger.info({ sessionId, level: settings.level }, 'live response session opened');
      if (signal.aborted) return session.end('Cancelled');
      signal.addEventListener('abort', onAbort, { once: true });
      this.#armIdle(session);
      const early = this.#early.get(sessionId);
      if (early) {
        clearTimeout(early.timer);
        this.#early.delete(sessionId);
        for (const frame of early.frames) this.command(frame);
      }
    });
  }

  /** A line to run: checked, then run, its output streamed and its end reported; a refused one is answered at once. */
  command(frame: LiveCommandFrame): void {
    const { sessionId, seq } = frame;
    const session = this.#sessions.get(sessionId);
    const checked = this.#check(frame, session);
    if (checked.ok && !session && this.#holdEarly(frame)) return;
    if (!checked.ok || !session) return this.#refuse(frame, session, checked.ok ? NO_SESSION : checked.refusal);
    session.lastSeq = seq;
    const stop = new AbortController();
    session.running.set(seq, stop);
    clearTimeout(session.idleTimer);
    // Lines run one after another; the commands that act on running lines (jobs, fg, cancel) at once.
    const words = parseCommandLine(checked.params.line);
    const atOnce = Array.isArray(words) && AT_ONCE.has(words[0] ?? '');
    // A shell's keystrokes may come before it starts (after the lines before it): its terminal takes them from now on.
    let terminal: TerminalChannel | undefined;
    if (Array.isArray(words) && words[0] === 'shell') {
      const size = checked.params.terminal ?? { cols: 80, rows: 24 };
      terminal = new TerminalChannel(size.cols, size.rows, session.idleMs);
      session.terminals.set(seq, terminal);
    }
    const start = () => this.#runLine(session, seq, checked.params, stop.signal, terminal);
    const answering = (atOnce ? start() : session.inOrder.then(start)).finally(() => {
      session.running.delete(seq);
      session.terminals.delete(seq);
      session.answering.delete(answering);
      if (this.#sessions.get(sessionId) === session && session.running.size === 0) this.#armIdle(session);
    });
    session.answering.add(answering);
    if (!atOnce) session.inOrder = answering.catch(() => undefined);
  }

  /**
   * A Tab completion request: verified like a line (signature, machine, expiry, its session), then
   * for its own id (answered once; it has no seq and never touches the order of lines), and
   * answered with a liveCompletion frame, beside whatever line runs. Refusals are answers too,
   * with the reason as their error.
   */
  complete(frame: LiveCompleteFrame): void {
    const { sessionId, completionId } = frame;
    const answer = (result: { base: string; entries: { name: string; type: 'dir' | 'file' | 'link' | 'other' }[]; truncated: boolean } | { error: string }) => {
      void this.#pacer.take().then(() =>
        this.deps.send({ type: 'liveCompletion', sessionId, completionId, ...('error' in result ? { base: '', entries: [], truncated: false, error: result.error.slice(0, MAX_ERROR_CHARS) } : { ...result, error: null }) }),
      );
    };
    const refuse = (error: string) => {
      this.deps.logger.warn({ sessionId, completionId, reason: error }, 'refused a live response completion');
      answer({ error });
    };
    const v = verifyCommand(frame.command, this.deps.signingPublicKeyPem, this.deps.machineId, this.deps.now());
    if (!v.ok) return refuse(v.detail);
    if (v.command.type !== 'LiveResponse') return refuse(`the signed command is a ${v.command.type} action, not a completion`);
    const parsed = LiveCompleteParameters.safeParse(v.command.parameters);
    if (!parsed.success) return refuse('the signed command is not a completion request');
    const params = parsed.data;
    if (params.sessionId !== sessionId || params.completionId !== completionId) return refuse(`the signed request is completion ${params.completionId} of session ${params.sessionId}, not ${completionId} of ${sessionId}`);
    const now = this.deps.now().getTime();
    for (const [id, expires] of this.#completions) {
      if (expires > now && this.#completions.size <= COMPLETIONS_REMEMBERED) break;
      this.#completions.delete(id);
    }
    if (this.#completions.has(completionId)) return refuse(`completion ${completionId} was answered already: a replayed request is not answered again`);
    this.#completions.set(completionId, Date.parse(v.command.expiresAt));
    const session = this.#sessions.get(sessionId);
    if (!session) return refuse(NO_SESSION);
    if (session.completing >= MAX_COMPLETIONS_RUNNING) return refuse('too many completions at once in this session');
    session.completing++;
    void session.shell
      .complete(params.path)
      .then(
        (r) => answer(r),
        (e: unknown) => answer({ error: (e as Error).message ?? String(e) }),
      )
      .finally(() => session.completing--);
  }

  /** Answers a line that is not run: exit status 126 and why, at once. */
  #refuse(frame: LiveCommandFrame, session: OpenSession | undefined, error: string): void {
    const { sessionId, seq } = frame;
    this.deps.logger.warn({ sessionId, seq, reason: error }, 'refused a live response line');
    if (session) this.#count(session, 126);
    this.#pacer.spend();
    this.deps.send({ type: 'liveDone', sessionId, seq, exitStatus: 126, error: error.slice(0, MAX_ERROR_CHARS), cwd: session?.shell.cwd ?? '', truncated: false });
  }

  /** Keeps a verified line for a session that may be about to open; false when it is to be refused now. */
  #holdEarly(frame: LiveCommandFrame): boolean {
    const { sessionId } = frame;
    if (this.#ended.has(sessionId)) return false;
    let early = this.#early.get(sessionId);
    if (!early) {
      if (this.#early.size >= MAX_EARLY_SESSIONS) return false;
      early = { frames: [], timer: setTimeout(() => this.#refuseEarly(sessionId), this.deps.openGraceMs ?? OPEN_GRACE_MS) };
      this.#early.set(sessionId, early);
    }
    if (early.frames.length >= MAX_EARLY_LINES) return false;
    early.frames.push(frame);
    return true;
  }

  /** The session never opened (or was closed first): its waiting lines are refused. */
  #refuseEarly(sessionId: string): void {
    const early = this.#early.get(sessionId);
    if (!early) return;
    clearTimeout(early.timer);
    this.#early.delete(sessionId);
    for (const frame of early.frames) this.#refuse(frame, undefined, NO_SESSION);
  }

  #remember(sessionId: string, reason: LiveEndReason): void {
    this.#ended.set(sessionId, reason);
    if (this.#ended.size > ENDED_REMEMBERED) this.#ended.delete(this.#ended.values().next().value!);
  }

  /**
   * Keystrokes (or a resize) for a running `shell` line: verified like a line (signature, machine,
   * expiry, its session and line), then handed to the line's terminal in chunk order. Input for
   * anything else is dropped, with a warning (the server sends input only for running shells).
   */
  input(frame: LiveInputFrame): void {
    const { sessionId, seq, chunk } = frame;
    const drop = (reason: string) => this.deps.logger.warn({ sessionId, seq, chunk, reason }, 'dropped live response input');
    const v = verifyCommand(frame.command, this.deps.signingPublicKeyPem, this.deps.machineId, this.deps.now());
    if (!v.ok) return drop(v.detail);
    if (v.command.type !== 'LiveResponse') return drop(`the signed command is a ${v.command.type} action, not live response input`);
    const parsed = LiveInputParameters.safeParse(v.command.parameters);
    if (!parsed.success) return drop('the signed command is not live response input');
    const params = parsed.data;
    if (params.sessionId !== sessionId || params.seq !== seq || params.chunk !== chunk) return drop(`the signed input is chunk ${params.chunk} of line ${params.seq} of session ${params.sessionId}, not this one`);
    const terminal = this.#sessions.get(sessionId)?.terminals.get(seq);
    if (!terminal) return drop('no shell runs as this line');
    const refused = terminal.push(chunk, { ...(params.data ? { data: params.data } : {}), ...(params.cols && params.rows ? { cols: params.cols, rows: params.rows } : {}) });
    if (refused) drop(refused);
  }

  /** Ctrl-C for a running line; a line not running (ended, never started) is left alone. */
  cancel(frame: { sessionId: string; seq: number }): void {
    this.#sessions.get(frame.sessionId)?.running.get(frame.seq)?.abort(new Error('cancelled'));
  }

  /**
   * The server ended the session. One not open yet never will be: the close is remembered (its
   * action ends at once if it starts after all) and lines waiting for it are refused.
   */
  close(frame: { sessionId: string; reason: LiveEndReason }): void {
    const session = this.#sessions.get(frame.sessionId);
    if (session) return session.end(frame.reason);
    if (!this.#ended.has(frame.sessionId)) this.#remember(frame.sessionId, frame.reason);
    this.#refuseEarly(frame.sessionId);
  }

  /** The line's signed parameters, or why it must not run (its session being open is the caller's to check). */
  #check(frame: LiveCommandFrame, session: OpenSession | undefined): { ok: true; params: LiveCommandParameters } | { ok: false; refusal: string } {
    const refuse = (refusal: string) => ({ ok: false as const, refusal });
    const v = verifyCommand(frame.command, this.deps.signingPublicKeyPem, this.deps.machineId, this.deps.now());
    if (!v.ok) return refuse(v.detail);
    if (v.command.type !== 'LiveResponse') return refuse(`the signed command is a ${v.command.type} action, not a live response line`);
    const parsed = LiveCommandParameters.safeParse(v.command.parameters);
    if (!parsed.success) return refuse(`the signed command is not a live response line: ${z.prettifyError(parsed.error).split('\n')[0] ?? ''}`);
    const params = parsed.data;
    if (params.sessionId !== frame.sessionId || params.seq !== frame.seq) {
      return refuse(`the signed line is line ${params.seq} of session ${params.sessionId}, not line ${frame.seq} of session ${frame.sessionId}`);
    }
    if (session && frame.seq <= session.lastSeq) return refuse(`line ${frame.seq} is not after line ${session.lastSeq}: a replayed or out-of-order line is not run`);
    return { ok: true, params };
  }

  async #runLine(session: OpenSession, seq: number, params: LiveCommandParameters, signal: AbortSignal, terminal?: TerminalLink): Promise<void> {
    const sessionId = session.id;
    const output = new LineOutput(this.#pacer, (text) => void this.deps.send({ type: 'liveOutput', sessionId, seq, text }));
    let result: LiveResult;
    try {
      result = await session.shell.run(params.line, { signal, onOutput: (chunk) => output.write(chunk), line: { sessionId, seq }, ...(params.library ? { library: params.library } : {}), ...(params.scanContent ? { scanContent: params.scanContent } : {}), ...(terminal ? { terminal } : {}) });
    } catch (err) {
      // LiveShell answers every failure as a result; this is a bug, said as such rather than lost.
      this.deps.logger.error({ err, sessionId, seq }, 'live response line failed unexpectedly');
      result = { exitStatus: 1, output: '' };
      output.write(`internal error: ${(err as Error).message ?? String(err)}\n`);
    }
    const tail = await output.end();
    this.#count(session, result.exitStatus);
    await this.#pacer.take();
    this.deps.send({
      type: 'liveDone',
      sessionId,
      seq,
      ...(tail ? { text: tail } : {}),
      exitStatus: result.exitStatus,
      error: null,
      cwd: session.shell.cwd,
      truncated: result.truncated === true,
      ...(result.data !== undefined && fitsInDone(result.data) ? { data: result.data } : {}),
    });
  }

  #count(session: OpenSession, exitStatus: number): void {
    session.commands++;
    if (exitStatus !== 0) session.failed++;
  }

  #armIdle(session: OpenSession): void {
    clearTimeout(session.idleTimer);
    session.idleTimer = setTimeout(() => session.end('IdleTimeout'), session.idleMs);
  }
}

/** Whether a command's structured result is small enough for its liveDone frame (and JSON at all). */
function fitsInDone(data: unknown): boolean {
  try {
    const json = JSON.stringify(data);
    return json !== undefined && json.length <= MAX_DATA_JSON_CHARS;
  } catch {
    return false;
  }
}
