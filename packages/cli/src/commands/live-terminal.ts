import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { completesPath, LIVE_COMMAND_LEVELS, readlineCompletions, wordAtCursor } from '@cordon/protocol';
import type { LiveSocket } from '@cordon/api-client';
import { ApiRequestError, type CordonClient, type LiveCommand, type LiveSession } from '../api-client.js';
import { CONFIG_DIR, CliError } from '../context.js';
import { safeText } from '../output.js';

/** Typed lines kept across sessions, only where `cordon up` made the CLI's directory (mode 0600). */
const HISTORY_FILE = join(CONFIG_DIR, 'live_history');
const HISTORY_SIZE = 500;
/** How long `end` waits for the device to close the session before leaving anyway. */
const END_WAIT_MS = 15_000;
const QUEUED_NOTICE_MS = 1_000;
/** Keystrokes typed within this long go to a shell as one chunk. */
const SHELL_BATCH_MS = 10;
/** The most one input chunk carries (the API's limit). */
const MAX_INPUT_CHARS = 4096;

type StateEvent = { state: LiveSession['state']; status: string; endReason: string | null };

/**
 * One live-response session on a terminal (or fed lines by a script), over the session's one
 * WebSocket: typed lines go out on it, and what the device answers comes back on it as it arrives.
 */
export class LiveTerminal {
  #cwd: string | null = null;
  #state: LiveSession['state'];
  #endReason: string | null = null;
  /** Each line's output events printed so far: a reconnected socket replays them all again. */
  readonly #printed = new Map<number, number>();
  readonly #done = new Map<number, LiveCommand>();
  #wake: (() => void) | null = null;
  #running: number | null = null;
  #rl: Interface | null = null;
  readonly #stop = new AbortController();
  #socket: LiveSocket | null = null;
  readonly #tty: boolean;
  readonly #input: NodeJS.ReadableStream & { isTTY?: boolean };

  constructor(
    private readonly client: CordonClient,
    private readonly session: LiveSession,
    input: NodeJS.ReadableStream & { isTTY?: boolean } = process.stdin,
  ) {
    this.#state = session.state;
    this.#input = input;
    this.#tty = !!input.isTTY && !!process.stdout.isTTY;
  }

  /** Runs the session to its end; answers once it is over (ended by the user, the device or the server). */
  async run(): Promise<void> {
    const following = this.#follow();
    try {
      // A connected device takes the session at once: the wait is only told when it lasts.
      const waiting = setTimeout(() => {
        if (this.#state === 'Queued') process.stderr.write(`waiting for ${safeText(this.session.computerDnsName)} to connect (queued)…\n`);
      }, QUEUED_NOTICE_MS);
      const taken = await this.#until(() => this.#state !== 'Queued');
      clearTimeout(waiting);
      if (!taken) throw new CliError('the session stream stopped before the device took the session');
      if (this.#ended()) throw new CliError(`the session could not be opened: ${safeText(this.#endReason ?? 'it ended')}`);
      process.stderr.write(`session ${this.session.id} open on ${safeText(this.session.computerDnsName)} (${this.session.level}); ${this.#tty ? 'Ctrl-D or exit ends it' : 'reading lines from stdin'}\n`);
      await this.#repl();
      if (!this.#ended()) await this.#end();
      process.stderr.write(`session ended: ${safeText(this.#endReason ?? 'ended')}\n`);
    } finally {
      this.#stop.abort();
      await following;
    }
  }

  async #repl(): Promise<void> {
    const complete = liveCompleter(this.client, this.session);
    const rl = createInterface({
      input: this.#input,
      output: this.#tty ? process.stdout : undefined,
      terminal: this.#tty,
      history: this.#tty ? loadHistory() : [],
      historySize: HISTORY_SIZE,
      removeHistoryDuplicates: true,
      // Asynchronous: a path is asked of the device (readline waits for the answer, at most ~3 s).
      completer: (line: string, callback: (err: null, result: [string[], string]) => void) => void complete(line).then((r) => callback(null, r)),
    });
    this.#rl = rl;
    const onSigint = () => this.#interrupt(rl);
    rl.on('SIGINT', onSigint);
    // Piped input: Ctrl-C stops the line that runs and reads no more; the session is then ended.
    if (!this.#tty) process.on('SIGINT', onSigint);
    try {
      this.#prompt(rl);
      for await (const raw of rl) {
        if (this.#ended()) break;
        const line = raw.trim();
        if (line === 'exit' || line === 'logout') break;
        if (line !== '') await this.#runLine(line);
        if (this.#ended()) break;
        this.#prompt(rl);
      }
    } finally {
      if (!this.#tty) process.off('SIGINT', onSigint);
      this.#rl = null;
      if (this.#tty) {
        saveHistory(rl);
        process.stdout.write('\n');
      }
      rl.close();
    }
  }

  #prompt(rl: Interface): void {
    if (!this.#tty) return;
    rl.setPrompt(`${safeText(this.session.computerDnsName)}:${safeText(this.#cwd ?? '?')}$ `);
    rl.prompt();
  }

  /** Ctrl-C: stops the running line; at the prompt it clears what was typed, or says how to leave. */
  #interrupt(rl: Interface): void {
    if (this.#running !== null) {
      const seq = this.#running;
      process.stderr.write('^C\n');
      this.#socket?.cancel(seq).catch((e: unknown) => process.stderr.write(`cordon: cannot cancel line ${seq}: ${safeText(messageOf(e))}\n`));
      if (!this.#tty) rl.close();
      return;
    }
    if (!this.#tty) return void rl.close();
    if (rl.line === '') process.stdout.write('\n(type exit or press Ctrl-D to end the session)\n');
    else {
      rl.write(null, { ctrl: true, name: 'u' });
      process.stdout.write('^C\n');
    }
    this.#prompt(rl);
  }

  /** Sends a line and waits for its `done` event; a refusal is said on stderr and the session goes on. */
  async #runLine(line: string): Promise<void> {
    const shell = line.split(/\s+/)[0] === 'shell';
    if (shell && !this.#tty) {
      process.stderr.write('cordon: shell needs a terminal (run cordon live from one)\n');
      return;
    }
    let sent: LiveCommand;
    try {
      sent = await this.#socket!.run(line, shell ? { cols: process.stdout.columns || 80, rows: process.stdout.rows || 24 } : undefined);
    } catch (e) {
      if (!(e instanceof ApiRequestError) || e.status === 0) throw e;
      process.stderr.write(`cordon: ${safeText(e.message)}\n`);
      return;
    }
    this.#running = sent.seq;
    try {
      const ended = this.#until(() => this.#done.has(sent.seq) || this.#ended());
      await (shell ? this.#passThrough(sent.seq, ended) : ended);
    } finally {
      this.#running = null;
    }
    const done = this.#done.get(sent.seq);
    if (!done) return;
    if (done.cwd) this.#cwd = done.cwd;
    if (done.exitStatus !== 0) process.stdout.write(`[exit ${done.exitStatus ?? '?'}]${done.error ? ` ${safeText(done.error)}` : ''}\n`);
  }

  /**
   * While a shell runs: the terminal is raw and every keystroke goes to it (Ctrl-C and Ctrl-D
   * included: the device's shell decides what they do), gathered for ~10 ms into one input chunk,
   * in order; a resize of the window (SIGWINCH) goes as a resize. The line editor gets the
   * keyboard back when the shell ends.
   */
  async #passThrough(seq: number, ended: Promise<boolean>): Promise<void> {
    const input = this.#input as NodeJS.ReadStream;
    const rl = this.#rl;
    // The line editor reads keys through keypress events: they are set aside, not acted on, meanwhile.
    const keypress = input.listeners('keypress') as ((...args: unknown[]) => void)[];
    input.removeAllListeners('keypress');
    rl?.pause();
    const wasRaw = input.isRaw;
    input.setRawMode?.(true);
    let pending = '';
    let timer: NodeJS.Timeout | undefined;
    let failed = false;
    const send = (body: { data?: string; cols?: number; rows?: number }) => {
      // In order on the one socket: the server numbers the chunks as they come.
      this.#socket!.input(seq, body).catch((e: unknown) => {
        // Said once: a shell that ended meanwhile refuses what was typed after it.
        if (!failed && !this.#stop.signal.aborted) process.stderr.write(`\r\ncordon: input not sent: ${safeText(messageOf(e))}\r\n`);
        failed = true;
      });
    };
    const flush = () => {
      clearTimeout(timer);
      timer = undefined;
      for (let i = 0; i < pending.length; i += MAX_INPUT_CHARS) send({ data: pending.slice(i, i + MAX_INPUT_CHARS) });
      pending = '';
    };
    const onData = (chunk: Buffer | string) => {
      pending += chunk.toString();
      if (pending.length >= MAX_INPUT_CHARS) flush();
      else timer ??= setTimeout(flush, SHELL_BATCH_MS);
    };
    const onResize = () => send({ cols: process.stdout.columns, rows: process.stdout.rows });
    input.on('data', onData);
    input.resume();
    process.stdout.on('resize', onResize);
    try {
      await ended;
    } finally {
      flush();
      input.off('data', onData);
      process.stdout.off('resize', onResize);
      input.setRawMode?.(wasRaw);
      for (const l of keypress) input.on('keypress', l);
      rl?.resume();
      process.stdout.write('\r\n');
    }
  }

  async #end(): Promise<void> {
    try {
      await this.client.endLiveSession(this.session.id);
    } catch (e) {
      // Ended meanwhile (by the device, an admin or the idle time-out): nothing left to end.
      if (!(e instanceof ApiRequestError) || e.status !== 409) throw e;
    }
    await Promise.race([this.#until(() => this.#ended()), sleep(END_WAIT_MS, undefined, { ref: false })]);
  }

  /** Waits until `check` holds (true), re-checked on every event of the stream, or the stream stops for good (false). */
  async #until(check: () => boolean): Promise<boolean> {
    while (!check()) {
      if (this.#stop.signal.aborted) return false;
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    return true;
  }

  /** Read through a call: the stream changes it while TypeScript's narrowing thinks it cannot. */
  #ended(): boolean {
    return this.#state === 'Ended';
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  /** Follows the session on its socket until stopped (it reconnects by itself, and what it replays is skipped). */
  #follow(): Promise<void> {
    return new Promise<void>((resolve) => {
      let seen = new Map<number, number>();
      const socket = this.client.liveSocket(this.session.id, {
        onOpen: () => {
          seen = new Map();
        },
        onEvent: (type, data) => this.#onEvent(type, data, seen),
        onGone: (e) => {
          process.stderr.write(`cordon: cannot follow the session: ${safeText(e.message)}\n`);
          this.#stop.abort();
          this.#rl?.close();
        },
      });
      this.#socket = socket;
      const stop = () => {
        socket.close();
        this.#notify();
        resolve();
      };
      if (this.#stop.signal.aborted) stop();
      else this.#stop.signal.addEventListener('abort', stop, { once: true });
    });
  }

  #onEvent(event: string, data: unknown, seen: Map<number, number>): void {
    if (event === 'output') {
      const { seq, text } = data as { seq: number; text: string };
      const n = (seen.get(seq) ?? 0) + 1;
      seen.set(seq, n);
      if (n <= (this.#printed.get(seq) ?? 0)) return;
      this.#printed.set(seq, n);
      process.stdout.write(text);
    } else if (event === 'done') {
      const c = data as LiveCommand;
      this.#done.set(c.seq, c);
    } else if (event === 'state') {
      const s = data as StateEvent;
      const wasEnded = this.#ended();
      this.#state = s.state;
      this.#endReason = s.endReason;
      // Ended on its own (idle, the device, an admin) while at the prompt: the REPL stops reading and `run` says why.
      if (s.state === 'Ended' && !wasEnded && this.#running === null) this.#rl?.close();
    }
    this.#notify();
  }
}

/**
 * Tab in `cordon live`, as a readline completer (given the line up to the cursor): a command name in
 * the first word (those the session's level allows, and `exit`), or a path on the device after the
 * commands that take paths. A device that cannot answer (slow, offline, Tab pressed too fast)
 * completes nothing: the line stays as typed.
 */
export function liveCompleter(client: CordonClient, session: Pick<LiveSession, 'id' | 'level'>): (line: string) => Promise<[string[], string]> {
  return async (line) => {
    const w = wordAtCursor(line);
    if (completesPath(w)) {
      const answer = await client.completeLivePath(session.id, w.word).catch(() => null);
      return answer ? readlineCompletions(line, answer) : [[], line];
    }
    if (/\s/.test(line.trimStart())) return [[], line];
    const word = line.trimStart();
    const names = [...Object.entries(LIVE_COMMAND_LEVELS).filter(([, level]) => level === 'basic' || session.level === 'advanced').map(([name]) => name), 'exit'];
    const hits = names.filter((n) => n.startsWith(word)).sort();
    return [hits.length === 1 ? [`${hits[0]} `] : hits, word];
  };
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function loadHistory(): string[] {
  try {
    return readFileSync(HISTORY_FILE, 'utf8').split('\n').filter(Boolean).reverse().slice(0, HISTORY_SIZE);
  } catch {
    return [];
  }
}

/** Keeps the history only where the CLI already has its directory: a session never creates one. */
function saveHistory(rl: Interface): void {
  if (!existsSync(CONFIG_DIR)) return;
  const history = (rl as Interface & { history?: string[] }).history ?? [];
  try {
    writeFileSync(HISTORY_FILE, `${[...history].reverse().join('\n')}\n`, { mode: 0o600 });
    chmodSync(HISTORY_FILE, 0o600);
  } catch (e) {
    process.stderr.write(`cordon: cannot keep the history in ${HISTORY_FILE}: ${safeText(messageOf(e))}\n`);
  }
}
