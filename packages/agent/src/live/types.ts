import type { LibraryFileRef, LiveScanContentRef } from '@cordon/protocol';
import type { CollectContext } from '../actions/collect-package/types.js';
import type { Scanning } from '../actions/types.js';
import type { IndicatorSet } from '../content/indicators.js';
import type { ScanRules } from '../scan/rules.js';
import type { ExecResult, Platform, SafeFiles } from '../platform/types.js';
import type { RemediationRecords } from './remediations.js';

/** What a session may run: basic commands only (read-only), or advanced ones too. */
export type LiveLevel = 'basic' | 'advanced';

/** How one command line turned out. */
export interface LiveResult {
  /** 0 on success; as a shell: 2 bad usage, 124 timed out, 126 not allowed here, 127 unknown command, 130 cancelled. */
  exitStatus: number;
  /** What a terminal shows; every line ends with \n. Control characters are escaped (\x1b), never sent raw. */
  output: string;
  /** The command's result in structured form, for the API (absent for failures and plain text). */
  data?: unknown;
  /** Set when the output went over the session's budget and was cut (its last line says how much). */
  truncated?: boolean;
  /**
   * For a command that wrote a program's stderr apart (`run`): what the output kept of each stream,
   * within the same budget (`output` holds both, in the order they came, and the closing lines).
   */
  streams?: { stdout: string; stderr: string };
}

/** What the caller of {@link LiveShell.run} gives one command line. */
export interface RunContext {
  /** Aborting it (Ctrl-C) stops the command; it ends with exit status 130. */
  signal?: AbortSignal;
  /** Output as it is produced (within the budget), for streaming; the result holds it all too. */
  onOutput?: (chunk: string) => void;
  /** For `putfile` and `run`: the library file the server resolved the line's file name to. */
  library?: LibraryFileRef;
  /** For `analyze`: the scan content versions the server had published when it signed the line. */
  scanContent?: LiveScanContentRef[];
  /** The session and line number this line is, for what it sends the server besides its output (`getfile`). */
  line?: { sessionId: string; seq: number };
  /** For `shell`: the client's terminal (its size, and the keystrokes typed in it). */
  terminal?: TerminalLink;
}

/** Keystrokes typed in a `shell` line's terminal, and/or its new size. */
export interface TerminalInput {
  data?: string;
  cols?: number;
  rows?: number;
}

/** A client's terminal as an interactive command sees it. */
export interface TerminalLink {
  readonly cols: number;
  readonly rows: number;
  /** With no keystroke for this long, the command ends (the session's idle time-out). */
  readonly idleMs: number;
  /** Takes the input, in order: what came before is handed over at once. */
  attach(onInput: (input: TerminalInput) => void): void;
}

/** Scan content this device holds older than the server named, and why it could not catch up. */
export interface ContentBehind {
  kind: string;
  name: string;
  /** The version the server named. */
  version: number;
  /** The version this device holds (null: none). */
  have: number | null;
  problem: string;
}

/** What `analyze` scans with: the antivirus scan's own rules, indicators and settings. */
export interface LiveScanning {
  rules: ScanRules;
  indicators: IndicatorSet;
  settings: Scanning['settings'];
  /** Brings this device's scan content up to the versions named (fetched and verified as always); answers what is still behind. */
  catchUp(refs: readonly LiveScanContentRef[]): Promise<ContentBehind[]>;
}

/** A file `getfile` sends: its transfer id (resumable), its path on the device and its size. */
export interface FileTransfer {
  transferId: string;
  path: string;
  size: number;
}

/** How a transfer ended: bytes sent in all, the whole file's SHA-256, and how many bytes the server already held. */
export interface TransferResult {
  size: number;
  sha256: string;
  resumed: number;
}

/** A command line running in the session. */
export interface LiveJob {
  id: number;
  line: string;
  command: string;
  startedAt: Date;
}

/** What one remediation did, kept on the device (see RemediationRecords) so `remediate list` shows it and `undo` reverses it, in any later session. */
export interface Remediation {
  /** e.g. r3f9c2a1b: random, so a cron entry's marker names this remediation and no other session's. */
  id: string;
  kind: 'process' | 'file' | 'cron';
  /** What it acted on, in words: `pid 4242 (sleep 30)`, a path, `/etc/crontab line 3`. */
  target: string;
  doneAt: string;
  /** null when it cannot be undone, with why. */
  undo: { quarantineId: string } | { cronFile: string; marker: string } | { impossible: string };
  undoneAt: string | null;
  /** What it did, as the API gives it. */
  detail: Record<string, unknown>;
}

/** What the session was set up with that some commands need (see LiveShellOptions). */
export interface SessionSettings {
  /** The agent's data directory: its quarantine vault, and where `run` stages scripts; null: no vault, the OS temp directory. */
  dataDir: string | null;
  /** The crontab files, and directories of crontabs, that `remediate cron` may change. */
  cronRoots: readonly string[];
  /** The device's group allows `shell` (the session's signed parameters say so). */
  shell: boolean;
}

/** A session's state, which commands read and `cd` / `trace` change. */
export interface SessionState {
  cwd: string;
  /** Where `cd -` goes. */
  previousCwd: string | null;
  /** Verbose mode: commands say what they read and run. */
  trace: boolean;
  readonly level: LiveLevel;
  /** Every command the session knows, by name (`help` lists them). */
  readonly commands: ReadonlyMap<string, LiveCommand>;
  readonly settings: SessionSettings;
  /** What `remediate` did on this device, in this session and earlier ones (kept in the agent's data directory). */
  readonly remediations: RemediationRecords;
  /** The ids of what `remediate` did in this session, oldest first: `undo` with no id takes the last of these. */
  readonly remediatedHere: string[];
}

/** The session's other running lines, as one line sees them (`jobs`, `fg`, `cancel`). */
export interface JobControl {
  /** This line's own job id. */
  readonly self: number;
  /** The other lines running now, oldest first. */
  list(): LiveJob[];
  /** Stops another running line (it ends with 130); false when no such line runs. */
  cancel(id: number): boolean;
  /**
   * Follows another running line: its output from now on goes to `onOutput` until it ends (or
   * `signal` aborts), and its result is answered; null when no such line runs.
   */
  follow(id: number, onOutput: (chunk: string) => void, signal: AbortSignal): Promise<LiveResult> | null;
  /** How a line that ended turned out (the session remembers its last 100), or null. */
  ended(id: number): { line: string; exitStatus: number } | null;
}

/** What a command gets to do its work. */
export interface CommandContext {
  session: SessionState;
  platform: Platform;
  /** Safe file access (absolute paths; never a link a user could have planted), fresh per command. */
  files: SafeFiles;
  /** The same file access as a collect-package context, so collectors' readers are reused as they are. */
  collect: CollectContext;
  /** Aborted on Ctrl-C, time-out or the session's end: a command stops at its next step. */
  signal: AbortSignal;
  /** Appends text to the output (counted against the budget); a program's stderr says so, to be kept apart too. */
  write(text: string, stream?: 'stderr'): void;
  /** What the output kept of the text written as stderr so far (within the budget, terminal-safe). */
  stderrKept(): string;
  /**
   * For interactive commands: appends a terminal's bytes as they are (escape sequences included:
   * the client is a terminal). False once the output is over its budget (the rest is not kept).
   */
  writeTerminal(text: string): boolean;
  /** The client's terminal, for an interactive command (absent when the line came without one). */
  terminal?: TerminalLink;
  /** A verbose note, shown only with `trace on`. */
  trace(note: string): void;
  /** A path as typed, made absolute against the session's cwd. */
  resolve(path: string): string;
  /** Runs a program with an argument array (never a shell), within the command's time-out; Ctrl-C stops it. */
  run(file: string, args: string[]): Promise<ExecResult>;
  /** The library file that came with the line (see {@link RunContext.library}). */
  library?: LibraryFileRef;
  /** The scan content versions that came with the line (see {@link RunContext.scanContent}). */
  scanContent?: LiveScanContentRef[];
  /** The antivirus scan's engines and content, for `analyze` (absent: this agent has no scanner set up). */
  scanning?: LiveScanning;
  /** The path of a library file's verified bytes on the device; throws {@link CommandError} when this session has no library. */
  fetchLibrary(ref: LibraryFileRef): Promise<string>;
  /**
   * Sends a file to the server for this line (absent when the session cannot, e.g. in tests of other
   * commands). Each piece of `source` is used before the next is asked for: getfile reads them all
   * into one buffer.
   */
  upload?(transfer: FileTransfer, source: AsyncIterable<Buffer>, onProgress: (bytes: number) => void): Promise<TransferResult>;
  jobs: JobControl;
}

/** What a command answers besides its output. */
export interface CommandOutcome {
  data?: unknown;
  /** Non-zero with `error`: the command showed what it could and still failed. */
  exitStatus?: number;
  /** A one-line reason, printed as `<command>: <error>` after the output. */
  error?: string;
}

/** One live-response command: declared once, listed by `help`, refused above the session's level. */
export interface LiveCommand {
  name: string;
  /** One line for `help`. */
  summary: string;
  /** e.g. `ls [-l] [-a] [path]`. */
  usage: string;
  level: LiveLevel;
  /** A terminal program (`shell`): no command time-out (its idle time-out instead), a larger output budget, output passed through raw. */
  interactive?: boolean;
  /** Throws {@link CommandError} for a clear one-line failure. */
  run(args: string[], ctx: CommandContext): Promise<CommandOutcome | void>;
}
