import { posix } from 'node:path';
import type { LibraryFileRef } from '@cordon/protocol';
import { deviceCollectContext } from '../actions/collect-package/context.js';
import { currentPlatform } from '../platform/index.js';
import type { Platform } from '../platform/types.js';
import { parseCommandLine } from '@cordon/protocol';
import { liveCommands } from './commands/index.js';
import { completePath, type PathCompletionResult } from './complete.js';
import { CommandError } from './errors.js';
import { RemediationRecords, remediationsFile } from './remediations.js';
import { bytesText, durationText, printable, terminalSafe } from './format.js';
import type { CommandContext, FileTransfer, JobControl, LiveCommand, LiveJob, LiveLevel, LiveResult, LiveScanning, RunContext, SessionState, TransferResult } from './types.js';

export type { LiveJob } from './types.js';


/** MDE's limit, the floor to beat: a command running longer is stopped and fails. */
export const DEFAULT_COMMAND_TIMEOUT_MS = 10 * 60_000;
/** Output a command may show; past it the output is cut with a line saying how much was left out. */
export const DEFAULT_OUTPUT_BUDGET = 1024 * 1024;
/**
 * Output a `shell` may give. Every byte of a shell is recorded; one that gives more is ended
 * (with a line saying why) rather than left running unrecorded.
 */
export const DEFAULT_SHELL_OUTPUT_BUDGET = 16 * 1024 * 1024;

export interface LiveShellOptions {
  /** 'basic' refuses advanced commands. */
  level: LiveLevel;
  /** The device's platform (tests pass one whose files are a fixture tree). */
  platform?: Platform;
  /** Bytes of output per command (default 1 MiB). */
  outputBudget?: number;
  /** Bytes of output per `shell` (default 16 MiB). */
  shellOutputBudget?: number;
  /** The device's group allows `shell` (from the session's signed parameters; default false). */
  shellAllowed?: boolean;
  /** Time a command may run (default 10 min). */
  commandTimeoutMs?: number;
  /** The commands this session knows (default: every command, basic and advanced; the level decides which run). */
  commands?: readonly LiveCommand[];
  /**
   * Fetches a library file and answers the path of its verified bytes (the agent gives
   * content/library.ts's fetchLibraryFile); without it `putfile` and `run` say the session has no library.
   */
  fetchLibrary?: (ref: LibraryFileRef, signal: AbortSignal) => Promise<string>;
  /**
   * The agent's data directory: `remediate file` moves files into its quarantine vault
   * (`<dataDir>/quarantine`), `run` stages scripts below it. Without it `remediate file` is
   * refused and scripts are staged in the OS temp directory.
   */
  dataDir?: string;
  /**
   * The device's remediation records (the agent gives one for all its shells, which logs a damaged
   * file); by default those in `<dataDir>/live-response/remediations.json`, or in memory without a data directory.
   */
  remediations?: RemediationRecords;
  /** The crontab files, and directories of crontabs, `remediate cron` may change (default {@link DEFAULT_CRON_ROOTS}). */
  cronRoots?: readonly string[];
  /** The antivirus scan's engines and content (the agent gives its own); without it `analyze` says it cannot scan. */
  scanning?: LiveScanning;
  /** Sends a file to the server for a line (the agent gives its resumable uploader); without it `getfile` says it cannot. */
  uploadFile?: (line: { sessionId: string; seq: number }, transfer: FileTransfer, source: AsyncIterable<Buffer>, onProgress: (bytes: number) => void, signal: AbortSignal) => Promise<TransferResult>;
}

/** Where cron reads tables from: the system crontab, cron.d, and user crontabs (Debian's spool, Red Hat's). */
export const DEFAULT_CRON_ROOTS: readonly string[] = ['/etc/crontab', '/etc/cron.d', '/var/spool/cron/crontabs', '/var/spool/cron'];

/** A completion takes at most this long on the device (the server waits a little longer for it). */
export const COMPLETE_TIMEOUT_MS = 2000;

/** How many ended lines the session remembers, for `fg` to say how one ended. */
const ENDED_KEPT = 100;

/** A running line: what `jobs` shows, how to stop it, who follows its output, and its result once it ends. */
interface RunningJob extends LiveJob {
  stop: AbortController;
  followers: Set<(chunk: string) => void>;
  done: Promise<LiveResult>;
}

/** Why a command was stopped from outside: its time-out, a cancel, or the session's end. */
type StopReason = 'timeout' | 'cancel' | 'closed';

/** A command's output within its budget: what is over it is counted, not kept. */
class Output {
  private readonly chunks: string[] = [];
  /** Which kept chunks came from a program's stderr (`run`), by index in `chunks`. */
  private readonly fromStderr = new Set<number>();
  private kept = 0;
  private cut = 0;
  private closed = false;
  /** Raw terminal output (an interactive command's): not escaped, and closing lines end with \r\n. */
  private raw = false;

  constructor(
    private budget: number,
    private readonly onOutput?: (chunk: string) => void,
  ) {}

  /** From now on the output is a terminal's, kept within `budget`. */
  terminal(budget: number): void {
    this.raw = true;
    this.budget = budget;
  }

  /** Keeps what fits in the budget (a program's stderr says so, to be kept apart too; a terminal's bytes are raw); false once over it. */
  write(text: string, stream?: 'stderr' | 'raw'): boolean {
    if (this.closed || !text) return !this.cut;
    const safe = stream === 'raw' && this.raw ? text : terminalSafe(text);
    const n = Buffer.byteLength(safe);
    if (this.cut) {
      this.cut += n;
      return false;
    }
    if (this.kept + n <= this.budget) {
      this.emit(safe, n, stream);
      return true;
    }
    // Keep what fits, up to its last full line when it has one.
    let keep = utf8Prefix(safe, this.budget - this.kept);
    const nl = keep.lastIndexOf('\n');
    if (nl >= 0) keep = keep.slice(0, nl + 1);
    const keptBytes = Buffer.byteLength(keep);
    if (keep) this.emit(keep, keptBytes, stream);
    this.cut = n - keptBytes;
    return false;
  }

  /** What was kept of the stderr written so far (within the budget, as the terminal shows it). */
  stderr(): string {
    return [...this.fromStderr].map((i) => this.chunks[i]).join('');
  }

  /** Closes the output (a command that ignored its abort writes no more) and adds the closing lines. */
  end(tail: string | null): Pick<LiveResult, 'output' | 'truncated' | 'streams'> {
    this.closed = true;
    // Apart before the closing lines, which are neither stream's.
    const streams = this.fromStderr.size ? { stdout: this.chunks.filter((_, i) => !this.fromStderr.has(i)).join(''), stderr: this.stderr() } : null;
    const lines: string[] = [];
    if (tail) lines.push(terminalSafe(tail));
    if (this.cut) lines.push(`[output cut at ${bytesText(this.budget)}: ${bytesText(this.cut)}${this.cut >= 1024 ? ` (${this.cut} bytes)` : ''} more not shown]`);
    if (lines.length) {
      const last = this.chunks.at(-1);
      const nl = this.raw ? '\r\n' : '\n';
      this.emit(`${last && !last.endsWith('\n') ? nl : ''}${lines.join(nl)}${nl}`, 0);
    }
    return { output: this.chunks.join(''), ...(this.cut ? { truncated: true as const } : {}), ...(streams ? { streams } : {}) };
  }

  private emit(text: string, bytes: number, stream?: 'stderr' | 'raw'): void {
    if (stream === 'stderr') this.fromStderr.add(this.chunks.length);
    this.chunks.push(text);
    this.kept += bytes;
    this.onOutput?.(text);
  }
}

/** The longest start of `s` that is at most `max` bytes of UTF-8, never splitting a character. */
function utf8Prefix(s: string, max: number): string {
  const buf = Buffer.from(s, 'utf8');
  if (buf.length <= max) return s;
  let end = Math.max(0, max);
  while (end > 0 && (buf[end]! & 0xc0) === 0x80) end--;
  return buf.subarray(0, end).toString('utf8');
}

/** A path as typed, absolute against `cwd` (`..` taken logically, as a shell's cd does). */
export function resolvePath(cwd: string, path: string): string {
  if (path === '') throw new CommandError('an empty path names no file', 2);
  return posix.resolve(cwd, path);
}

/**
 * One live-response session on the agent: its state (cwd from `/`, trace, running commands) and
 * the interpreter of its command lines. A line is split into words (never given to a shell), its
 * command looked up and checked against the session's level, and run with the session's output
 * budget and time-out; Ctrl-C (the caller's signal) or {@link cancel} stops it.
 */
export class LiveShell {
  readonly state: SessionState;
  private readonly platform: Platform;
  private readonly budget: number;
  private readonly shellBudget: number;
  private readonly timeoutMs: number;
  private readonly running = new Map<number, RunningJob>();
  private readonly ended = new Map<number, { line: string; exitStatus: number }>();
  private readonly fetchLibrary?: LiveShellOptions['fetchLibrary'];
  private readonly uploadFile?: LiveShellOptions['uploadFile'];
  private readonly scanning?: LiveScanning;
  private nextJob = 1;
  private closed = false;

  constructor(opts: LiveShellOptions) {
    const commands = new Map((opts.commands ?? liveCommands).map((c) => [c.name, c]));
    const settings = { dataDir: opts.dataDir ?? null, cronRoots: opts.cronRoots ?? DEFAULT_CRON_ROOTS, shell: opts.shellAllowed ?? false };
    this.state = { cwd: '/', previousCwd: null, trace: false, level: opts.level, commands, settings, remediations: opts.remediations ?? new RemediationRecords(opts.dataDir ? remediationsFile(opts.dataDir) : null), remediatedHere: [] };
    this.fetchLibrary = opts.fetchLibrary;
    this.uploadFile = opts.uploadFile;
    this.scanning = opts.scanning;
    this.platform = opts.platform ?? currentPlatform();
    this.budget = opts.outputBudget ?? DEFAULT_OUTPUT_BUDGET;
    this.shellBudget = opts.shellOutputBudget ?? DEFAULT_SHELL_OUTPUT_BUDGET;
    this.timeoutMs = opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  }

  get cwd(): string {
    return this.state.cwd;
  }

  /** The commands running now, oldest first. */
  jobs(): LiveJob[] {
    return [...this.running.values()].map(({ id, line, command, startedAt }) => ({ id, line, command, startedAt }));
  }

  /** Stops a running command (it ends with exit status 130); false when no such command runs. */
  cancel(id: number): boolean {
    const job = this.running.get(id);
    job?.stop.abort('cancel' satisfies StopReason);
    return !!job;
  }

  /** Ends the session: running commands are stopped and no more are run. */
  close(): void {
    this.closed = true;
    for (const job of this.running.values()) job.stop.abort('closed' satisfies StopReason);
  }

  /**
   * Tab completion of a partial path against the working directory (see completePath): not a
   * line, so it runs beside any running line and changes nothing. Throws CommandError with why
   * there is nothing to complete.
   */
  async complete(word: string, timeoutMs = COMPLETE_TIMEOUT_MS): Promise<PathCompletionResult> {
    if (this.closed) throw new CommandError('the session has ended');
    const signal = AbortSignal.timeout(timeoutMs);
    const files = deviceCollectContext({ dataDir: '', deadline: Date.now() + timeoutMs, signal }, this.platform);
    // Raced with its time-out: a directory stuck in a system call does not keep the answer waiting.
    const stopped = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(new CommandError(`no answer within ${timeoutMs} ms`)), { once: true }));
    const listing = completePath(files, this.state.cwd, word, signal);
    listing.catch(() => {});
    return Promise.race([listing, stopped]);
  }

  /** Runs one command line to its end (or its time-out, or Ctrl-C) and answers its result. */
  async run(line: string, ctx: RunContext = {}): Promise<LiveResult> {
    const followers = new Set<(chunk: string) => void>();
    const out = new Output(this.budget, (chunk) => {
      ctx.onOutput?.(chunk);
      for (const f of followers) f(chunk);
    });
    const fail = (exitStatus: number, message: string): LiveResult => ({ exitStatus, ...out.end(message) });
    if (this.closed) return fail(1, 'the session has ended');
    const words = parseCommandLine(line);
    if ('error' in words) return fail(2, words.error);
    const [name, ...args] = words;
    if (name === undefined) return { exitStatus: 0, output: '' };
    const cmd = this.state.commands.get(name);
    if (!cmd) return fail(127, `${printable(name)}: unknown command (help lists the commands)`);
    if (cmd.level === 'advanced' && this.state.level !== 'advanced') return fail(126, `${name}: an advanced command; this session runs basic commands only`);
    if (cmd.interactive) out.terminal(this.shellBudget);

    const stop = new AbortController();
    const signal = ctx.signal ? AbortSignal.any([ctx.signal, stop.signal]) : stop.signal;
    // An interactive command ends on its own idle time-out, not after a set time.
    const timer = cmd.interactive ? undefined : setTimeout(() => stop.abort('timeout' satisfies StopReason), this.timeoutMs);
    const id = this.nextJob++;
    const started = Date.now();
    let finished!: (r: LiveResult) => void;
    const done = new Promise<LiveResult>((resolve) => (finished = resolve));
    this.running.set(id, { id, line, command: name, startedAt: new Date(started), stop, followers, done });
    const trace = (note: string) => {
      if (this.state.trace) out.write(`[trace] ${note}\n`);
    };
    // One safe-file-access instance per command: its cache of resolved directories never outlives it.
    const collect = deviceCollectContext({ dataDir: '', deadline: started + this.timeoutMs, signal }, this.platform);
    const cctx: CommandContext = {
      session: this.state,
      platform: this.platform,
      files: collect,
      collect,
      signal,
      write: (text, stream) => void out.write(text, stream),
      stderrKept: () => out.stderr(),
      writeTerminal: (text) => out.write(text, 'raw'),
      ...(ctx.terminal ? { terminal: ctx.terminal } : {}),
      trace,
      resolve: (path) => resolvePath(this.state.cwd, path),
      run: async (file, argv) => {
        trace(`run ${[file, ...argv].map((a) => JSON.stringify(a)).join(' ')}`);
        // The collect context stops the program when the command's signal aborts (Ctrl-C, time-out, cancel).
        const r = await collect.run(file, argv);
        trace(`${file} exited with ${r.code}`);
        return r;
      },
      ...(ctx.library ? { library: ctx.library } : {}),
      ...(ctx.scanContent ? { scanContent: ctx.scanContent } : {}),
      ...(this.scanning ? { scanning: this.scanning } : {}),
      fetchLibrary: async (ref) => {
        if (!this.fetchLibrary) throw new CommandError('this session has no library (the agent cannot fetch library files here)');
        trace(`fetching ${ref.fileName} version ${ref.version} (SHA-256 ${ref.sha256}) from the library`);
        return this.fetchLibrary(ref, signal);
      },
      jobs: this.jobControl(id),
      ...(this.uploadFile && ctx.line ? { upload: (transfer: FileTransfer, source: AsyncIterable<Buffer>, onProgress: (bytes: number) => void) => this.uploadFile!(ctx.line!, transfer, source, onProgress, signal) } : {}),
    };
    let result: LiveResult;
    try {
      if (signal.aborted) throw signal.reason;
      // The command is raced with its stop: a command stuck in a system call does not hold the session.
      const stopped = new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true }));
      const running = cmd.run(args, cctx);
      running.catch(() => {});
      const outcome = (await Promise.race([running, stopped])) ?? {};
      const exitStatus = outcome.exitStatus ?? (outcome.error ? 1 : 0);
      trace(`${name}: ${Date.now() - started} ms, exit status ${exitStatus}`);
      result = { exitStatus, ...out.end(outcome.error ? `${name}: ${outcome.error}` : null), ...(outcome.data !== undefined ? { data: outcome.data } : {}) };
    } catch (e) {
      if (signal.aborted) {
        const why = stop.signal.aborted ? (stop.signal.reason as StopReason) : 'cancel';
        if (why === 'timeout') result = fail(124, `${name}: timed out after ${durationText(this.timeoutMs)}; stopped`);
        else result = fail(130, `${name}: ${why === 'closed' ? 'stopped: the session ended' : 'cancelled'}`);
      } else if (e instanceof CommandError) result = fail(e.exitStatus, `${name}: ${e.message}`);
      else result = fail(1, `${name}: ${(e as Error).message ?? String(e)}`);
    } finally {
      clearTimeout(timer);
      this.running.delete(id);
    }
    this.ended.set(id, { line, exitStatus: result.exitStatus });
    if (this.ended.size > ENDED_KEPT) this.ended.delete(this.ended.keys().next().value!);
    finished(result);
    return result;
  }

  /** The session's jobs as line `self` sees them: the others, never itself. */
  private jobControl(self: number): JobControl {
    return {
      self,
      list: () => this.jobs().filter((j) => j.id !== self),
      cancel: (id) => id !== self && this.cancel(id),
      follow: (id, onOutput, signal) => {
        const job = id === self ? undefined : this.running.get(id);
        if (!job) return null;
        const stopFollowing = () => job.followers.delete(onOutput);
        job.followers.add(onOutput);
        signal.addEventListener('abort', stopFollowing, { once: true });
        return job.done.finally(() => {
          stopFollowing();
          signal.removeEventListener('abort', stopFollowing);
        });
      },
      ended: (id) => this.ended.get(id) ?? null,
    };
  }
}
