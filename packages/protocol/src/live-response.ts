import { z } from 'zod';
import { SignedCommand } from './signed-command.js';
import { LibraryFileRef } from './library.js';
import { ContentKind, ContentName, ContentVersion } from './content-kind.js';

/*
 * Live response: an analyst's session on a device. The session itself is a `LiveResponse` action
 * (parameters `{session}`): the agent acks it, keeps it open while it runs, and reports its end.
 * Each line typed in it is a separately signed command (a `CommandPayload` of type LiveResponse
 * whose parameters are LiveCommandParameters) carried by a `liveCommand` frame; its output comes
 * back in `liveOutput` frames and its end in one `liveDone`.
 */

/** What a session may run: basic commands (read-only on the device), advanced ones (change it), and the shell. */
export const LiveLevel = z.enum(['basic', 'advanced']);
export type LiveLevel = z.infer<typeof LiveLevel>;

/**
 * Every command a session knows, with the lowest level that may run it: the server checks a line
 * against this before it signs it, and the agent's registry is tested against it. `shell` also
 * needs the device group's shell setting.
 */
export const LIVE_COMMAND_LEVELS = {
  help: 'basic',
  cd: 'basic',
  pwd: 'basic',
  ls: 'basic',
  fileinfo: 'basic',
  findfile: 'basic',
  processes: 'basic',
  connections: 'basic',
  persistence: 'basic',
  services: 'basic',
  scheduledtasks: 'basic',
  getfile: 'basic',
  analyze: 'basic',
  library: 'basic',
  jobs: 'basic',
  fg: 'basic',
  cancel: 'basic',
  trace: 'basic',
  putfile: 'advanced',
  run: 'advanced',
  remediate: 'advanced',
  undo: 'advanced',
  shell: 'advanced',
} as const satisfies Record<string, LiveLevel>;
export type LiveCommandName = keyof typeof LIVE_COMMAND_LEVELS;

/** Whether a session of `level` may run `command` (an unknown command is the agent's to refuse, with 127). */
export function liveLevelAllows(level: LiveLevel, command: string): boolean {
  const needs = (LIVE_COMMAND_LEVELS as Record<string, LiveLevel | undefined>)[command];
  return needs === undefined || needs === 'basic' || level === 'advanced';
}

/** Most bytes of one command line. */
export const MAX_LIVE_LINE_BYTES = 8 * 1024;
/** Most characters of output one `liveOutput` frame carries. */
export const MAX_LIVE_OUTPUT_CHARS = 64 * 1024;
/** Largest file `getfile` sends (MDE's limit). */
export const LIVE_GETFILE_MAX_BYTES = 3 * 1024 ** 3;
/**
 * `getfile` sends its file through the agent upload path (UPLOAD_PATH/<transfer id>, resumable
 * chunks, like investigation packages), each request naming the line it answers and the file:
 * `<sessionId>/<seq>`, the path (base64url of UTF-8) and its size.
 */
export const LIVE_UPLOAD_HEADERS = { line: 'x-cordon-live-line', path: 'x-cordon-live-path', size: 'x-cordon-live-size' } as const;

/** A session with no command for this long ends (MDE's 30 minutes). */
export const LIVE_IDLE_TIMEOUT_SECONDS = 30 * 60;
/** How long one command may run (MDE's 10 minutes). */
export const LIVE_COMMAND_TIMEOUT_SECONDS = 10 * 60;

const SessionId = z.uuid();
const Seq = z.number().int().min(1).max(1_000_000);

/** What the session action's signed command carries. */
export const LiveSessionParameters = z.strictObject({
  session: z.strictObject({
    level: LiveLevel,
    /** The device group allows `shell` (an admin's setting). */
    shell: z.boolean(),
    idleTimeoutSeconds: z.number().int().min(60).max(24 * 3600),
  }),
});
export type LiveSessionParameters = z.infer<typeof LiveSessionParameters>;

/** What one line's signed command carries: the session, the line's number in it, the line, and the library file it names. */
export const LiveCommandParameters = z.strictObject({
  sessionId: SessionId,
  seq: Seq,
  line: z.string().min(1).max(MAX_LIVE_LINE_BYTES),
  /** For `putfile` and `run`: the library file the server resolved the name to, fetched and verified by the agent. */
  library: LibraryFileRef.optional(),
  /**
   * For `analyze`: the scan content (rule packs, indicators) the server had published when it signed
   * the line. The agent brings what it holds up to these versions first (fetched and verified as its
   * content always is), so the file is judged as a scan started now would judge it.
   */
  scanContent: z.array(z.strictObject({ kind: ContentKind, name: ContentName, version: ContentVersion })).max(8).optional(),
  /** For `shell`: the size of the client's terminal (the agent uses 80x24 without it). */
  terminal: z.strictObject({ cols: z.number().int().min(1).max(1000), rows: z.number().int().min(1).max(1000) }).optional(),
});
export type LiveScanContentRef = NonNullable<LiveCommandParameters['scanContent']>[number];
export type LiveCommandParameters = z.infer<typeof LiveCommandParameters>;

/** Most characters of keystrokes one input chunk carries (clients send what was typed in ~10 ms). */
export const MAX_LIVE_INPUT_CHARS = 4096;

/**
 * What one input chunk's signed command carries: keystrokes (and/or a new terminal size) for
 * the running `shell` line `seq`. `chunk` numbers a line's chunks from 1 up: the agent writes a
 * chunk only after every lower one it got, so a replayed chunk is never typed twice.
 */
export const LiveInputParameters = z.strictObject({
  sessionId: SessionId,
  seq: Seq,
  chunk: z.number().int().min(1).max(100_000_000),
  data: z.string().min(1).max(MAX_LIVE_INPUT_CHARS).optional(),
  cols: z.number().int().min(1).max(1000).optional(),
  rows: z.number().int().min(1).max(1000).optional(),
});
export type LiveInputParameters = z.infer<typeof LiveInputParameters>;

export const LiveEndReason = z.enum(['Ended', 'IdleTimeout', 'Cancelled', 'AgentRestarted']);
export type LiveEndReason = z.infer<typeof LiveEndReason>;

/** Server → agent: run this line (verified like any command: signature, machine, expiry; `seq` must be the session's next). */
export const LiveCommandFrame = z.strictObject({ type: z.literal('liveCommand'), sessionId: SessionId, seq: Seq, command: SignedCommand });
/** Server → agent: Ctrl-C for the running line `seq`. */
export const LiveCancelFrame = z.strictObject({ type: z.literal('liveCancel'), sessionId: SessionId, seq: Seq });
/** Server → agent: keystrokes or a resize for the running `shell` line `seq` (signed, verified like a line). */
export const LiveInputFrame = z.strictObject({ type: z.literal('liveInput'), sessionId: SessionId, seq: Seq, chunk: z.number().int().min(1).max(100_000_000), command: SignedCommand });
/** Server → agent: the session ended (its action too). */
export const LiveCloseFrame = z.strictObject({ type: z.literal('liveClose'), sessionId: SessionId, reason: LiveEndReason });

/** Agent → server: output of line `seq`, in order (several frames per line). */
export const LiveOutputFrame = z.strictObject({ type: z.literal('liveOutput'), sessionId: SessionId, seq: Seq, text: z.string().min(1).max(MAX_LIVE_OUTPUT_CHARS) });
/** Agent → server: line `seq` ended (after its last output frame). */
export const LiveDoneFrame = z.strictObject({
  type: z.literal('liveDone'),
  sessionId: SessionId,
  seq: Seq,
  /** The line's last output, when it fits: a short line is one frame, not two. */
  text: z.string().min(1).max(MAX_LIVE_OUTPUT_CHARS).optional(),
  /** As a shell's: 0 ok, 2 usage, 124 timed out, 126 not allowed, 127 unknown command, 130 cancelled; 1 other failures. */
  exitStatus: z.number().int().min(0).max(255),
  /** Why it failed, when it was refused before it ran (bad signature, wrong seq, session not open). */
  error: z.string().max(2048).nullable(),
  /** The session's working directory after the line. */
  cwd: z.string().max(4096),
  truncated: z.boolean(),
  /** The command's result in structured form, for the API (JSON, small). */
  data: z
    .unknown()
    .optional()
    .refine((d) => d === undefined || JSON.stringify(d).length <= 256 * 1024, { message: 'a live command result is at most 256 KiB of JSON' }),
});
/*
 * Tab completion of remote paths. A completion request is not a line: it has an id of its own
 * (never a seq, so lines keep their order), is signed like a line (a CommandPayload of type
 * LiveResponse whose parameters are LiveCompleteParameters, which no line's parameters parse as)
 * and expires quickly; the agent lists the directory the partial word names, relative to the
 * session's working directory, and answers it in one `liveCompletion` frame. Nothing is run and
 * nothing goes into the transcript.
 */

/** Longest partial word a completion request takes. */
export const MAX_LIVE_COMPLETE_PATH = 1024;
/** Most entries a completion answers (the rest is counted as `truncated`). */
export const MAX_LIVE_COMPLETIONS = 200;

/** What a completion request's signed command carries. */
export const LiveCompleteParameters = z.strictObject({
  sessionId: SessionId,
  /** This request's own id: the agent answers it once (a replayed request is refused). */
  completionId: z.uuid(),
  /** The word being typed, unquoted (may be empty: the working directory's entries). */
  path: z.string().max(MAX_LIVE_COMPLETE_PATH),
});
export type LiveCompleteParameters = z.infer<typeof LiveCompleteParameters>;

/** Server → agent: complete this partial path in the session (verified like a line, answered with `liveCompletion`). */
export const LiveCompleteFrame = z.strictObject({ type: z.literal('liveComplete'), sessionId: SessionId, completionId: z.uuid(), command: SignedCommand });
export type LiveCompleteFrame = z.infer<typeof LiveCompleteFrame>;

export const LiveCompletionEntry = z.strictObject({
  name: z.string().min(1).max(1024),
  /** `dir` also for a link root controls whose target is a directory (cd follows it). */
  type: z.enum(['dir', 'file', 'link', 'other']),
});
export type LiveCompletionEntry = z.infer<typeof LiveCompletionEntry>;

/** Agent → server: the answer to a completion request. */
export const LiveCompletionFrame = z.strictObject({
  type: z.literal('liveCompletion'),
  sessionId: SessionId,
  completionId: z.uuid(),
  /** The typed word up to and including its last `/` (what each entry's name follows). */
  base: z.string().max(MAX_LIVE_COMPLETE_PATH),
  /** Names in the directory that start with the word's last part, in byte order. */
  entries: z.array(LiveCompletionEntry).max(MAX_LIVE_COMPLETIONS),
  /** More names matched than were sent. */
  truncated: z.boolean(),
  /** Why there is nothing to complete (no such directory, refused request), or null. */
  error: z.string().max(2048).nullable(),
});
export type LiveCompletionFrame = z.infer<typeof LiveCompletionFrame>;

export type LiveOutputFrame = z.infer<typeof LiveOutputFrame>;
export type LiveDoneFrame = z.infer<typeof LiveDoneFrame>;
export type LiveCommandFrame = z.infer<typeof LiveCommandFrame>;
export type LiveInputFrame = z.infer<typeof LiveInputFrame>;
