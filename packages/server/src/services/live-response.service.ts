import { randomUUID } from 'node:crypto';
import { AGENT_CONTENT, LIVE_COMMAND_LEVELS, LIVE_COMMAND_TIMEOUT_SECONDS, liveLevelAllows, LiveSessionParameters, MAX_LIVE_COMPLETE_PATH, MAX_LIVE_LINE_BYTES, parseCommandLine, type CommandSigner, type LibraryFileRef, type LiveCompleteParameters, type LiveCompletionEntry, type LiveCompletionFrame, type LiveDoneFrame, type LiveLevel, type LiveOutputFrame, type LiveScanContentRef } from '@cordon/protocol';
import type { Logger } from 'pino';
import { roleHas, type Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { ApiError, BadRequestError, ConflictError, markAudited, NotFoundError, TooManyRequestsError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { ActionRow, ActionsRepository } from '../repositories/actions.repository.js';
import type { LibraryRepository } from '../repositories/library.repository.js';
import type { LiveCommandRow, LiveInputRow, LiveResponseRepository, StoredOutput } from '../repositories/live-response.repository.js';
import type { AgentChannel } from './action-lifecycle.js';
import type { ActionsService } from './actions.service.js';
import type { AuditService } from './audit.service.js';
import type { ContentService } from './content.service.js';
import { KeyedMutex, type Counters } from './counters.js';

/** A session as its action's state says it: waiting for the device, open on it, or over. */
export type LiveSessionState = 'Queued' | 'Active' | 'Ended';

export interface LiveSessionView {
  id: string;
  machineId: string;
  computerDnsName: string;
  openedBy: string;
  comment: string;
  level: LiveLevel;
  state: LiveSessionState;
  /** The LiveResponse action's status (Pending, InProgress, Succeeded, Failed, Cancelled, TimeOut). */
  status: string;
  /** Why it ended, when it did (the agent's end reason, or the action's error). */
  endReason: string | null;
  createdAt: string;
  lastUpdateAt: string;
  /** When it ends if nothing happens: the queue limit while Queued, the idle time-out while Active. */
  expiresAt: string;
  commands: number;
}

export type LiveCommandStatus = 'Running' | 'Succeeded' | 'Failed' | 'Cancelled' | 'TimedOut';

export interface LiveCommandView {
  sessionId: string;
  seq: number;
  line: string;
  command: string;
  issuedBy: string;
  status: LiveCommandStatus;
  exitStatus: number | null;
  error: string | null;
  cwd: string | null;
  truncated: boolean;
  data: unknown;
  startedAt: string;
  endedAt: string | null;
}

/** What a follower of a session (the console's terminal, `cordon live`) is told, in order. */
export type LiveStreamEvent =
  | { event: 'state'; data: { state: LiveSessionState; status: string; endReason: string | null } }
  | { event: 'command'; data: { seq: number; line: string; command: string; issuedBy: string; startedAt: string } }
  | { event: 'output'; data: { seq: number; text: string } }
  | { event: 'done'; data: LiveCommandView };

/** What a line's signed parameters carry besides the line: the library file (`putfile`, `run`), the scan content (`analyze`) the server resolved, or the terminal's size (`shell`). */
type ExtraParameters = { library?: LibraryFileRef; scanContent?: LiveScanContentRef[]; terminal?: { cols: number; rows: number } };

/** What a Tab completion answers (POST …/complete). */
export interface LiveCompletionView {
  base: string;
  entries: LiveCompletionEntry[];
  truncated: boolean;
  error: string | null;
}

/** Whether a device may run `shell` in a session (an admin's per-device-group setting). */
export interface LiveShellPolicy {
  allowsShell(machineId: string): Promise<boolean>;
}

/** No device allows `shell` until something says otherwise. */
export const NO_SHELL: LiveShellPolicy = { allowsShell: () => Promise.resolve(false) };

export interface LiveResponseSettings {
  /** How long a session waits for an offline device before it ends (TimeOut). */
  queueSeconds: number;
  /** A session with no command for this long ends. */
  idleSeconds: number;
}

/** Most output stored for one line, whatever the agent sends (it cuts at its own 1 MiB budget first). */
const MAX_STORED_OUTPUT_CHARS = 2 * 1024 * 1024;
/** ...and for a `shell` (the agent ends a shell past its 16 MiB: all a shell shows is recorded). */
const MAX_STORED_SHELL_OUTPUT_CHARS = 17 * 1024 * 1024;

/** Keystrokes and/or a new terminal size for a running `shell`. */
export interface LiveInput {
  data?: string;
  cols?: number;
  rows?: number;
}

/** One input chunk as the transcript gives it. */
export interface LiveInputView {
  chunk: number;
  data: string | null;
  cols: number | null;
  rows: number | null;
  sentAt: string;
}
/** A line's signed command is good for this long: it is sent at once, or never. */
const LINE_EXPIRY_SECONDS = 120;
/** A follower reads the store again this often even without a hint (a bus message may be lost). */
const FOLLOW_POLL_MS = 2000;
/** A completion request is good for this long: it is sent at once and answered within seconds, or never. */
const COMPLETION_EXPIRY_SECONDS = 30;
/** How long the asker waits for a completion's answer (the agent gives up after 2 s). */
export const COMPLETION_WAIT_MS = 3000;
/** How often the asker looks in the store for the answer even without a hint (a bus message may be lost). */
const COMPLETION_POLL_MS = 250;
/** Completions a session may ask for per second, on each node: Tab is pressed, not held down. */
export const COMPLETIONS_PER_SECOND = 10;
/** Answers nobody took are forgotten after this long. */
const COMPLETION_KEEP_MS = 60_000;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/** Commands the server answers itself: what the device needs not know. */
const SERVER_COMMANDS = new Set(['library']);

/** A line whose output this node takes: its agent, how much it stored, whether it cut it, whether it is a shell, and the line as stored. */
interface OpenLine {
  machineId: string;
  chars: number;
  cut: boolean;
  shell: boolean;
  row: StoredLine;
}

/** A line as this node stored or read it: what its `done` event is made of, with its end. */
type StoredLine = Omit<LiveCommandRow, 'signed_payload' | 'signature' | 'key_id'>;

/**
 * What this node just stored in a session, handed to the session's followers on this node at once
 * (followers elsewhere read it from the store on the hint). A follower takes it only when it
 * follows on from what it has sent; otherwise it reads the store, which has it.
 */
interface LiveChange {
  seq: number;
  command?: LiveStreamEvent & { event: 'command' };
  output?: StoredOutput & { text: string };
  done?: LiveCommandView;
  /** With `done`: the session's last output chunk when the line ended (all its output is up to it). */
  outputUpTo?: number;
}

/** Bound on the per-session facts a node remembers (next line number, parsed settings): forgotten whole past it, read again. */
const MAX_REMEMBERED_SESSIONS = 10_000;

const endedStatuses = new Set(['Succeeded', 'Failed', 'Cancelled', 'TimeOut']);

function stateOf(status: string): LiveSessionState {
  return status === 'Pending' ? 'Queued' : status === 'InProgress' ? 'Active' : 'Ended';
}

function statusOfExit(exitStatus: number): LiveCommandStatus {
  return exitStatus === 0 ? 'Succeeded' : exitStatus === 130 ? 'Cancelled' : exitStatus === 124 ? 'TimedOut' : 'Failed';
}

/** A line's `command` event: it was typed (its end comes as `done`). */
function commandEvent(r: Pick<LiveCommandRow, 'seq' | 'line' | 'command' | 'issued_by' | 'started_at'>): LiveStreamEvent & { event: 'command' } {
  return { event: 'command', data: { seq: Number(r.seq), line: r.line, command: r.command, issuedBy: r.issued_by, startedAt: r.started_at } };
}

export function commandView(r: LiveCommandRow): LiveCommandView {
  return {
    sessionId: r.session_id,
    seq: Number(r.seq),
    line: r.line,
    command: r.command,
    issuedBy: r.issued_by,
    status: r.status as LiveCommandStatus,
    exitStatus: r.exit_status === null ? null : Number(r.exit_status),
    error: r.error,
    cwd: r.cwd,
    truncated: Number(r.truncated) === 1,
    data: r.data ? (JSON.parse(r.data) as unknown) : null,
    startedAt: r.started_at,
    endedAt: r.ended_at,
  };
}

/**
 * Live-response sessions. A session is a LiveResponse action (Action center, timeline, delivery,
 * expiry and cancel come from the action engine); each line typed in it is signed here, after the
 * level and driver checks, and stored with everything the device answers. The store is the only
 * place a session lives: any node can take a line, relay it to the node holding the agent, and
 * follow the output the holder stores.
 */
export class LiveResponseService {
  /** Lines whose output this node takes (it holds their agent): where each came from and how much it stored. */
  readonly #open = new Map<string, OpenLine>();
  /** Per session, its followers on this node: each takes a change this node stored, or says it must read the store. */
  readonly #followers = new Map<string, Set<(change: LiveChange) => boolean>>();
  /** Per session, the number its next line takes, as far as this node knows (a line another node stored makes the insert fail and the number be read again). */
  readonly #nextSeq = new Map<string, number>();
  /** Session settings by session id: parsed once, not on every line. */
  readonly #settings = new Map<string, LiveSessionParameters['session']>();
  /** Per session, the relayed lines being sent (in order). */
  /** A session's relays to its agent go out one after another. */
  readonly #relays = new KeyedMutex();
  /** Per session, this second's completions (the rate limit). */

  constructor(
    private readonly repo: LiveResponseRepository,
    private readonly actionsRepo: ActionsRepository,
    private readonly actions: ActionsService,
    private readonly library: LibraryRepository,
    /** The published scan content (rule packs, indicators) an `analyze` line names. */
    private readonly content: Pick<ContentService, 'latest'>,
    private readonly audit: AuditService,
    private readonly hub: EventHub,
    private readonly signer: CommandSigner,
    private readonly channel: AgentChannel,
    private readonly now: Clock,
    private readonly logger: Logger,
    private readonly settings: LiveResponseSettings,
    /** Rate counts (completions per session), shared by the nodes of a store. */
    private readonly counters: Counters,
    private readonly shellPolicy: LiveShellPolicy = NO_SHELL,
  ) {
    // A device that went offline ends the lines it was running (every node hears it; ending is idempotent).
    hub.subscribe((e) => {
      if (e.kind === 'timeline' && e.eventType === 'AgentOffline') void this.#deviceOffline(e.machineId).catch((err: unknown) => this.logger.error({ err }, 'ending the live lines of an offline device failed'));
    });
  }

  /** The level a principal's role gives: responders and up change the device, analysts only read it. */
  static levelOf(principal: Principal): LiveLevel {
    return roleHas(principal.role, 'live.advanced') ? 'advanced' : 'basic';
  }

  /** Opens a session: a LiveResponse action that waits for the device up to the queue limit. */
  async open(principal: Principal, machineId: string, comment: string): Promise<LiveSessionView> {
    const shell = await this.shellPolicy.allowsShell(machineId);
    const parameters: LiveSessionParameters = { session: { level: LiveResponseService.levelOf(principal), shell, idleTimeoutSeconds: this.settings.idleSeconds } };
    const action = await this.actions.submit(principal, machineId, 'LiveResponse', parameters, comment, { expirySeconds: this.settings.queueSeconds });
    return this.get(action.id);
  }

  async get(id: string): Promise<LiveSessionView> {
    const row = await this.#session(id);
    const counts = await this.repo.counts([id]);
    return this.#view(row, counts.get(id) ?? 0);
  }

  /** Sessions, newest first (of one device, when given). */
  async list(machineId: string | undefined, top: number): Promise<LiveSessionView[]> {
    const rows = await this.repo.sessions(machineId, top);
    const counts = await this.repo.counts(rows.map((r) => r.id));
    return rows.map((r) => this.#view(r, counts.get(r.id) ?? 0));
  }

  /**
   * Runs a line in an open session: only its opener types in it (others may follow it); the line's
   * command must be within the session's level and the caller's role. Answers the stored line;
   * its output follows on the session's stream.
   */
  async run(principal: Principal, sessionId: string, line: string, terminal?: { cols: number; rows: number }): Promise<LiveCommandView> {
    const row = await this.#session(sessionId);
    const words = this.#words(line);
    const command = words[0]!;
    const refuse = async (error: ApiError): Promise<never> => {
      await this.audit.record({ actor: principal.name, action: 'LiveResponseCommand', targetType: 'machine', targetId: row.machine_id, outcome: 'Refused', detail: { sessionId, line, reason: error.message } });
      throw markAudited(error);
    };
    if (row.requestor !== principal.name) await refuse(new ApiError(403, 'Forbidden', `Only ${row.requestor}, who opened this session, types in it; others may follow it`));
    const state = stateOf(row.status);
    if (state !== 'Active') await refuse(new ConflictError(state === 'Queued' ? 'The session is waiting for the device to connect: lines can be sent once it is active' : `The session has ended (${row.status})`, 'SessionNotActive'));
    const level = this.#levelOf(row, principal);
    if (!liveLevelAllows(level, command)) await refuse(new ApiError(403, 'Forbidden', `'${command}' is an advanced command: it needs the responder role in a session opened by one (this session is ${level})`));
    if (command === 'shell' && !this.#shellAllowed(row)) await refuse(new ApiError(403, 'Forbidden', "shell is not enabled for this device's group (an admin allows it per device group; the session took the setting when it opened)"));
    let library: LibraryFileRef | undefined;
    if (command === 'putfile' || command === 'run') {
      const name = words[1];
      if (!name) await refuse(new BadRequestError(`usage: ${command} <library file name>${command === 'run' ? ' [arguments...]' : ''}`, 'Line'));
      const file = await this.library.get(name!);
      if (!file) await refuse(new BadRequestError(`'${name}' is not in the library (GET /api/libraryfiles lists it)`, 'Line', 'LibraryFileNotFound'));
      library = { fileName: file!.file_name, contentName: file!.content_name, version: Number(file!.content_version), sha256: file!.sha256 };
    }
    const extra: ExtraParameters = library ? { library } : {};
    if (command === 'analyze') extra.scanContent = await this.#scanContent();
    const local = SERVER_COMMANDS.has(command);
    if (!local && !this.channel.isConnected(row.machine_id)) await refuse(new ConflictError('The device is offline: the line was not sent', 'DeviceOffline'));
    const stored = await this.#store(principal, row, line, command, command === 'shell' && terminal ? { ...extra, terminal } : extra);
    // The stored line already says who sent what: the device gets it at once, and the audit
    // record and the session's longer life follow without holding the line up. Followers hear of
    // it in the same turn (before the device's answer can come back and overtake it).
    if (!local) this.sendLine(stored);
    this.#tell(row.machine_id, sessionId, { seq: stored.seq, command: commandEvent(stored) });
    await this.audit.record({ actor: principal.name, action: 'LiveResponseCommand', targetType: 'machine', targetId: row.machine_id, outcome: 'Succeeded', detail: { sessionId, seq: stored.seq, line } });
    await this.#extendIfHalfSpent(row, LIVE_COMMAND_TIMEOUT_SECONDS + this.settings.idleSeconds);
    if (!local) return commandView(stored);
    await this.#answerHere(stored);
    return commandView((await this.repo.command(sessionId, stored.seq))!);
  }

  /** Ctrl-C for a running line. */
  async cancel(principal: Principal, sessionId: string, seq: number): Promise<LiveCommandView> {
    const row = await this.#session(sessionId);
    if (row.requestor !== principal.name) throw new ApiError(403, 'Forbidden', `Only ${row.requestor}, who opened this session, may stop its lines`);
    const cmd = await this.repo.command(sessionId, seq);
    if (!cmd) throw new NotFoundError('Live response line', `${sessionId}/${seq}`);
    if (cmd.status !== 'Running') throw new ConflictError(`Line ${seq} has already ended (${cmd.status})`, 'CommandNotRunning');
    this.channel.send(row.machine_id, { type: 'liveCancel', sessionId, seq });
    return commandView(cmd);
  }

  /**
   * Keystrokes (and/or a new terminal size) for a running `shell` line, from its session's opener:
   * signed, stored in the transcript under the line's next chunk number, and sent to the device
   * (which types chunks in their order, each once). Not audited one by one: the transcript holds
   * every chunk, and the shell's start and end are audited.
   */
  async input(principal: Principal, sessionId: string, seq: number, input: LiveInput): Promise<{ sessionId: string; seq: number; chunk: number }> {
    const row = await this.#session(sessionId);
    if (row.requestor !== principal.name) throw new ApiError(403, 'Forbidden', `Only ${row.requestor}, who opened this session, types in it; others may follow it`);
    const state = stateOf(row.status);
    if (state !== 'Active') throw new ConflictError(state === 'Queued' ? 'The session is waiting for the device to connect' : `The session has ended (${row.status})`, 'SessionNotActive');
    if (this.#levelOf(row, principal) !== 'advanced') throw new ApiError(403, 'Forbidden', 'Typing in a shell needs the responder role in a session opened by one');
    if (input.data === undefined && (input.cols === undefined || input.rows === undefined)) throw new BadRequestError('Give the keystrokes (Data), a terminal size (Cols and Rows), or both', 'Data');
    if ((input.cols === undefined) !== (input.rows === undefined)) throw new BadRequestError('A terminal size needs both Cols and Rows', 'Cols');
    const cmd = await this.repo.command(sessionId, seq);
    if (!cmd) throw new NotFoundError('Live response line', `${sessionId}/${seq}`);
    if (cmd.command !== 'shell') throw new ConflictError(`Line ${seq} is '${cmd.command}', not a shell: only a shell takes input`, 'NotAShell');
    if (cmd.status !== 'Running') throw new ConflictError(`Line ${seq} has already ended (${cmd.status})`, 'CommandNotRunning');
    if (!this.channel.isConnected(row.machine_id)) throw new ConflictError('The device is offline: the input was not sent', 'DeviceOffline');
    const stored = await this.#storeInput(row, seq, input);
    await this.#extend(sessionId, LIVE_COMMAND_TIMEOUT_SECONDS + this.settings.idleSeconds);
    this.sendInput(stored);
    return { sessionId, seq, chunk: stored.chunk };
  }

  /** Sends a stored input chunk's signed command to its agent (here, or through the node that holds it). */
  sendInput(chunk: Pick<LiveInputRow, 'session_id' | 'seq' | 'chunk' | 'machine_id' | 'signed_payload' | 'signature' | 'key_id'>): void {
    this.channel.send(chunk.machine_id, { type: 'liveInput', sessionId: chunk.session_id, seq: Number(chunk.seq), chunk: Number(chunk.chunk), command: { payload: chunk.signed_payload, signature: chunk.signature, keyId: chunk.key_id } });
  }

  /** An input chunk relayed from another node: sent after what was relayed before it for the session (its line first). */
  sendStoredInput(sessionId: string, seq: number, chunk: number): Promise<void> {
    return this.#relays.run(sessionId, async () => {
      const row = await this.repo.inputChunk(sessionId, seq, chunk);
      if (row) this.sendInput(row);
    });
  }

  /** Ends a session: the device closes it and reports its end; a device that is offline has its action cancelled. */
  async end(principal: Principal, sessionId: string, comment: string): Promise<LiveSessionView> {
    const row = await this.#session(sessionId);
    if (row.requestor !== principal.name && !roleHas(principal.role, 'actions.cancel')) throw new ApiError(403, 'Forbidden', `Only ${row.requestor}, who opened this session, or a responder may end it`);
    if (stateOf(row.status) === 'Ended') throw new ConflictError(`The session has already ended (${row.status})`, 'SessionNotActive');
    if (row.status === 'InProgress' && this.channel.isConnected(row.machine_id)) {
      this.channel.send(row.machine_id, { type: 'liveClose', sessionId, reason: 'Ended' });
      await this.audit.record({ actor: principal.name, action: 'EndLiveResponseSession', targetType: 'action', targetId: sessionId, comment, outcome: 'Succeeded' });
    } else await this.actions.cancel(principal, sessionId, comment);
    return this.get(sessionId);
  }

  /**
   * Tab completion of a remote path: the device lists the directory `path` (a partial word, unquoted)
   * names, relative to the session's working directory, and answers the names that complete it.
   * Only the session's opener asks (the one who types); it is not a line: nothing runs, nothing
   * goes into the transcript and it is not audited one by one (a refusal is). The request is
   * signed like a line, sent to the agent wherever it is held, and its answer comes back through
   * the store; no answer within {@link COMPLETION_WAIT_MS} is a 504.
   */
  async complete(principal: Principal, sessionId: string, path: string): Promise<LiveCompletionView> {
    const row = await this.#session(sessionId);
    if (row.requestor !== principal.name) throw new ApiError(403, 'Forbidden', `Only ${row.requestor}, who opened this session, types in it (and completes paths in it)`);
    const state = stateOf(row.status);
    // Tab pressed on a session that is not open is no news for the audit log.
    if (state !== 'Active') throw markAudited(new ConflictError(state === 'Queued' ? 'The session is waiting for the device to connect' : `The session has ended (${row.status})`, 'SessionNotActive'));
    if (path.length > MAX_LIVE_COMPLETE_PATH) throw new BadRequestError(`A path to complete is at most ${MAX_LIVE_COMPLETE_PATH} characters`, 'Path');
    // Nor half a UTF-16 pair: escaped twice over it would outgrow a bus message to the node holding the agent.
    if (CONTROL_CHARS.test(path) || /\p{Surrogate}/u.test(path)) throw new BadRequestError('A path to complete has no control characters (and is well-formed text)', 'Path');
    await this.#paceCompletion(sessionId);
    if (!this.channel.isConnected(row.machine_id)) throw markAudited(new ConflictError('The device is offline', 'DeviceOffline'));
    const completionId = randomUUID();
    const now = this.now();
    const parameters: LiveCompleteParameters = { sessionId, completionId, path };
    const command = this.signer.sign({
      actionId: randomUUID(),
      machineId: row.machine_id,
      type: 'LiveResponse',
      parameters,
      issuedAt: now.toISOString(),
      expiresAt: new Date(now.getTime() + COMPLETION_EXPIRY_SECONDS * 1000).toISOString(),
    });
    // Listening before the request leaves: the answer may come back before send returns.
    const answer = this.#awaitCompletion(completionId, row.machine_id, sessionId);
    this.channel.send(row.machine_id, { type: 'liveComplete', sessionId, completionId, command });
    const got = await answer;
    if (!got) throw new ApiError(504, 'DeviceDidNotAnswer', `The device did not answer the completion within ${COMPLETION_WAIT_MS / 1000} s`);
    return got;
  }

  /** A completion's answer, from an agent this node holds: kept in the store for whichever node asked. */
  async agentCompletion(machineId: string, frame: LiveCompletionFrame): Promise<void> {
    // Kept only for an open session of this very device: an agent fills no store with answers to nothing.
    const session = await this.actionsRepo.get(frame.sessionId);
    if (!session || session.machine_id !== machineId || !this.#isSession(session) || stateOf(session.status) !== 'Active') {
      this.logger.warn({ machineId, sessionId: frame.sessionId }, 'an agent answered a completion for a session that is not its own or not open; ignored');
      return;
    }
    const now = this.now();
    const answer: LiveCompletionView = { base: frame.base, entries: frame.entries, truncated: frame.truncated, error: frame.error };
    await this.repo.putCompletion({ completion_id: frame.completionId, session_id: frame.sessionId, machine_id: machineId, answer: JSON.stringify(answer), created_at: now.toISOString() });
    this.hub.emit({ kind: 'liveCompletion', completionId: frame.completionId });
    await this.repo.pruneCompletions(new Date(now.getTime() - COMPLETION_KEEP_MS).toISOString());
  }

  /** Waits for a completion's answer: on the hint of the node that stored it, or found by looking. Undefined after the wait. */
  #awaitCompletion(completionId: string, machineId: string, sessionId: string): Promise<LiveCompletionView | undefined> {
    return new Promise((resolve, reject) => {
      let looking = false;
      let again = false;
      let over = false;
      const finish = (v: LiveCompletionView | undefined, err?: unknown) => {
        if (over) return;
        over = true;
        unsubscribe();
        clearInterval(poll);
        clearTimeout(limit);
        if (err) reject(err);
        else resolve(v);
      };
      const look = async (): Promise<void> => {
        if (looking) return void (again = true);
        looking = true;
        try {
          do {
            again = false;
            const r = await this.repo.takeCompletion(completionId);
            // Only the session's own device answers it.
            if (r && r.machine_id === machineId && r.session_id === sessionId) return finish(JSON.parse(r.answer) as LiveCompletionView);
          } while (again && !over);
        } catch (e) {
          finish(undefined, e);
        } finally {
          looking = false;
        }
      };
      const unsubscribe = this.hub.subscribe((e) => {
        if (e.kind === 'liveCompletion' && e.completionId === completionId) void look();
      });
      const poll = setInterval(() => void look(), COMPLETION_POLL_MS);
      const limit = setTimeout(() => finish(undefined), COMPLETION_WAIT_MS);
    });
  }

  /** At most COMPLETIONS_PER_SECOND completions per session each second, counted across nodes. */
  async #paceCompletion(sessionId: string): Promise<void> {
    // Wall-clock time, not the injected clock: a pace is about how fast requests come in now.
    const now = Date.now();
    const c = await this.counters.hit(`live-complete:${sessionId}`, 1000, now);
    if (c.count > COMPLETIONS_PER_SECOND) throw new TooManyRequestsError(Math.max(1, Math.ceil((c.resetAt - now) / 1000)));
  }

  /** Sends a stored line's signed command to its agent: here if this node holds it, else through the node that does. */
  sendLine(cmd: LiveCommandRow): void {
    const sent = this.channel.send(cmd.machine_id, { type: 'liveCommand', sessionId: cmd.session_id, seq: Number(cmd.seq), command: { payload: cmd.signed_payload, signature: cmd.signature, keyId: cmd.key_id } });
    // Sent from here: this node takes the line's output, and knows the line without reading it back.
    const key = `${cmd.session_id}/${Number(cmd.seq)}`;
    if (sent && !this.#open.has(key)) this.#open.set(key, { machineId: cmd.machine_id, chars: 0, cut: false, shell: cmd.command === 'shell', row: cmd });
  }

  /**
   * A line relayed from another node for an agent this node holds. Relays arrive in order; each is
   * read from the store, so they are sent one after another per session: the agent runs a line
   * only after the one before it, and a later line overtaking an earlier one would get it refused.
   */
  sendStoredLine(sessionId: string, seq: number): Promise<void> {
    return this.#relays.run(sessionId, async () => {
      const cmd = await this.repo.command(sessionId, seq);
      if (cmd && cmd.status === 'Running') this.sendLine(cmd);
    });
  }

  /** Output of a line, from the agent this node holds: stored in arrival order, then followers are told. */
  async agentOutput(machineId: string, frame: LiveOutputFrame): Promise<void> {
    const line = await this.#line(machineId, frame.sessionId, frame.seq);
    if (!line) return;
    const text = this.#withinBudget(line, frame.text);
    if (text === null) return;
    const stored = await this.repo.appendOutput(frame.sessionId, frame.seq, text, this.now().toISOString());
    this.#tell(machineId, frame.sessionId, { seq: frame.seq, output: { ...stored, text } });
  }

  /** What of `output` the line's budget keeps, counted against it (the cut says so); null when it was cut already. */
  #withinBudget(line: OpenLine, output: string): string | null {
    if (line.cut) return null;
    let text = output;
    const max = line.shell ? MAX_STORED_SHELL_OUTPUT_CHARS : MAX_STORED_OUTPUT_CHARS;
    if (line.chars + text.length > max) {
      const nl = line.shell ? '\r\n' : '\n';
      text = `${text.slice(0, Math.max(0, max - line.chars))}${nl}[output cut by the server at ${max / 1024 / 1024} MiB]${nl}`;
      line.cut = true;
    }
    line.chars += text.length;
    return text;
  }

  /** A line ended on the device. */
  async agentDone(machineId: string, frame: LiveDoneFrame): Promise<void> {
    const line = await this.#line(machineId, frame.sessionId, frame.seq);
    if (!line) return;
    this.#open.delete(`${frame.sessionId}/${frame.seq}`);
    const at = this.now().toISOString();
    // The last of a short line's output comes with its end (one frame), stored with it (one commit, one hint).
    const text = frame.text ? this.#withinBudget(line, frame.text) : null;
    const end = {
      status: frame.error && frame.exitStatus === 126 ? 'Failed' : statusOfExit(frame.exitStatus),
      exit_status: frame.exitStatus,
      error: frame.error,
      cwd: frame.cwd,
      truncated: frame.truncated || line.cut ? 1 : 0,
      data: frame.data === undefined ? null : JSON.stringify(frame.data),
      ended_at: at,
    };
    const finished = await this.repo.finish(frame.sessionId, frame.seq, end, text ? { text, at } : undefined);
    // A shell's end is audited before anyone sees it ended.
    if (line.shell && finished.ended) await this.#auditShellEnd(frame.sessionId, frame.seq, frame.exitStatus, frame.error);
    if (!finished.ended) this.#hint(machineId, frame.sessionId);
    else this.#tell(machineId, frame.sessionId, { seq: frame.seq, ...(finished.output && text ? { output: { ...finished.output, text } } : {}), done: commandView({ ...line.row, ...end, signed_payload: '', signature: '', key_id: '' }), outputUpTo: finished.outputUpTo });
    await this.#extend(frame.sessionId, this.settings.idleSeconds);
  }

  /** Sessions that started on their devices: from now on they last while they are used. */
  async sessionsStarted(rows: ActionRow[]): Promise<void> {
    for (const r of rows) if (this.#isSession(r)) await this.#extend(r.id, this.settings.idleSeconds);
  }

  /** Actions of these machines moved: the lines still running in a session that ended, end with it. */
  async sessionsChanged(machineIds: string[]): Promise<void> {
    for (const machineId of new Set(machineIds)) {
      for (const sessionId of await this.repo.runningSessions(machineId)) {
        const row = await this.actionsRepo.get(sessionId);
        if (!row || !endedStatuses.has(row.status)) continue;
        await this.#failRunning(machineId, { sessionId }, `The session ended (${row.status}) while the line ran`);
      }
    }
  }

  /**
   * Follows a session: `send` gets what is stored so far, then each change as it is stored (on a
   * hint from whichever node stored it, or at the latest every 2 s). Answers how to stop.
   */
  follow(sessionId: string, send: (e: LiveStreamEvent) => void, onError: (err: unknown) => void): () => void {
    let lastOutput = 0;
    let lastState: string | null = null;
    const announced = new Set<number>();
    /** The highest line announced: lines are announced in order, so every line up to it has been. */
    let lastAnnounced = 0;
    const ended = new Set<number>();
    // Lines before this one have all been told ended: each read starts here, so a long session's
    // followers read the few lines still open, not all of them on every change.
    let fromSeq = 1;
    let running = false;
    let again = false;
    let stopped = false;
    const poll = async (): Promise<void> => {
      if (running) {
        again = true;
        return;
      }
      running = true;
      try {
        do {
          again = false;
          const row = await this.actionsRepo.get(sessionId);
          if (!row || stopped) return;
          // Lines first, then output: a line seen ended has all its output stored already.
          const commands = await this.repo.commandsFrom(sessionId, fromSeq);
          for (const c of commands) {
            if (announced.has(Number(c.seq))) continue;
            announced.add(Number(c.seq));
            lastAnnounced = Math.max(lastAnnounced, Number(c.seq));
            send(commandEvent(c));
          }
          for (;;) {
            const out = await this.repo.outputAfter(sessionId, lastOutput);
            for (const o of out) send({ event: 'output', data: { seq: Number(o.seq), text: o.text } });
            if (out.length) lastOutput = out.at(-1)!.id;
            if (out.length < 1000) break;
          }
          for (const c of commands) {
            if (c.status === 'Running' || ended.has(Number(c.seq))) continue;
            ended.add(Number(c.seq));
            send({ event: 'done', data: commandView(c) });
          }
          passEnded();
          if (row.status !== lastState) {
            lastState = row.status;
            send({ event: 'state', data: { state: stateOf(row.status), status: row.status, endReason: this.#endReason(row) } });
          }
        } while (again && !stopped);
      } catch (err) {
        onError(err);
      } finally {
        running = false;
      }
    };
    const passEnded = () => {
      while (ended.has(fromSeq)) {
        ended.delete(fromSeq);
        announced.delete(fromSeq);
        fromSeq++;
      }
    };
    // A change this node stored, sent without reading the store when it follows on from what was
    // sent: the next line; output right after the last output sent; the end of a line announced.
    // Anything else (or a read under way, which will find it in order) is read from the store.
    const take = (c: LiveChange): boolean => {
      if (running || stopped || lastState === null) return false;
      if (c.command ? c.seq !== lastAnnounced + 1 : !announced.has(c.seq) || ended.has(c.seq)) return false;
      if (c.output && c.output.after !== lastOutput) return false;
      // An end is told only after all output stored before it (the poll reads output before ends too).
      if (c.done && c.outputUpTo !== (c.output?.id ?? lastOutput)) return false;
      if (c.command) {
        announced.add(c.seq);
        lastAnnounced = c.seq;
        send(c.command);
      }
      if (c.output) {
        lastOutput = c.output.id;
        send({ event: 'output', data: { seq: c.seq, text: c.output.text } });
      }
      if (c.done) {
        ended.add(c.seq);
        send({ event: 'done', data: c.done });
        passEnded();
      }
      return true;
    };
    const here = this.#followers.get(sessionId) ?? new Set();
    this.#followers.set(sessionId, here.add(take));
    const unsubscribe = this.hub.subscribe((e) => {
      if ((e.kind === 'liveResponse' && e.sessionId === sessionId) || (e.kind === 'action' && e.actionId === sessionId)) void poll();
    });
    const timer = setInterval(() => void poll(), FOLLOW_POLL_MS);
    timer.unref();
    void poll();
    return () => {
      stopped = true;
      here.delete(take);
      if (here.size === 0 && this.#followers.get(sessionId) === here) this.#followers.delete(sessionId);
      unsubscribe();
      clearInterval(timer);
    };
  }

  /** The whole transcript: the session, and every line with its output. */
  async transcript(sessionId: string): Promise<{ session: LiveSessionView; commands: (LiveCommandView & { output: string; input: LiveInputView[] })[] }> {
    const session = await this.get(sessionId);
    const commands = await this.repo.commands(sessionId);
    const output = new Map<number, string[]>();
    for (let after = 0; ; ) {
      const rows = await this.repo.outputAfter(sessionId, after, 5000);
      for (const o of rows) output.set(Number(o.seq), [...(output.get(Number(o.seq)) ?? []), o.text]);
      if (rows.length < 5000) break;
      after = rows.at(-1)!.id;
    }
    const input = new Map<number, LiveInputView[]>();
    for (const i of await this.repo.input(sessionId)) input.set(i.seq, [...(input.get(i.seq) ?? []), { chunk: i.chunk, data: i.data, cols: i.cols, rows: i.rows, sentAt: i.sent_at }]);
    return { session, commands: commands.map((c) => ({ ...commandView(c), output: (output.get(Number(c.seq)) ?? []).join(''), input: input.get(Number(c.seq)) ?? [] })) };
  }

  /**
   * The transcript as an asciicast v2 recording (https://docs.asciinema.org/manual/asciicast/v2/):
   * each line typed appears at the time it was sent, each output chunk at the time it arrived.
   * A shell's keystrokes are input ("i") events and its terminal sizes resize ("r") events; its
   * output is a terminal's already (line ends and all).
   */
  async cast(sessionId: string): Promise<string> {
    const session = await this.get(sessionId);
    const start = Date.parse(session.createdAt);
    const at = (iso: string) => Math.max(0, (Date.parse(iso) - start) / 1000);
    // Ordered by time; at the same instant a line's prompt before its output, lines in order.
    const events: { t: number; seq: number; order: number; code: 'o' | 'i' | 'r'; text: string }[] = [];
    let cwd = '/';
    const commands = await this.repo.commands(sessionId);
    const shells = new Set(commands.filter((c) => c.command === 'shell').map((c) => Number(c.seq)));
    for (const c of commands) {
      const seq = Number(c.seq);
      events.push({ t: at(c.started_at), seq, order: 0, code: 'o', text: `\u001b[1m${cwd}$\u001b[0m ${c.line}\r\n` });
      if (c.cwd) cwd = c.cwd;
      if (c.error && c.status !== 'Running') events.push({ t: at(c.ended_at ?? c.started_at), seq, order: Number.MAX_SAFE_INTEGER, code: 'o', text: `${c.error}\r\n` });
    }
    for (const i of await this.repo.input(sessionId)) {
      // Input sorts after the output stored at the same instant (the echo of a keystroke comes later anyway).
      if (i.cols !== null && i.rows !== null) events.push({ t: at(i.sent_at), seq: i.seq, order: Number.MAX_SAFE_INTEGER - 1, code: 'r', text: `${i.cols}x${i.rows}` });
      if (i.data !== null) events.push({ t: at(i.sent_at), seq: i.seq, order: Number.MAX_SAFE_INTEGER - 1, code: 'i', text: i.data });
    }
    for (let after = 0; ; ) {
      const rows = await this.repo.outputAfter(sessionId, after, 5000);
      for (const o of rows) events.push({ t: at(o.received_at), seq: Number(o.seq), order: o.id, code: 'o', text: shells.has(Number(o.seq)) ? o.text : o.text.replace(/\r?\n/g, '\r\n') });
      if (rows.length < 5000) break;
      after = rows.at(-1)!.id;
    }
    events.sort((a, b) => a.t - b.t || a.seq - b.seq || a.order - b.order);
    const header = { version: 2, width: 120, height: 40, timestamp: Math.floor(start / 1000), title: `Cordon live response on ${session.computerDnsName} by ${session.openedBy}`, env: { TERM: 'xterm-256color', SHELL: 'cordon-live' } };
    return [JSON.stringify(header), ...events.map((e) => JSON.stringify([Number(e.t.toFixed(3)), e.code, e.text]))].join('\n') + '\n';
  }

  #words(line: string): string[] {
    if (Buffer.byteLength(line) > MAX_LIVE_LINE_BYTES) throw new BadRequestError(`A line is at most ${MAX_LIVE_LINE_BYTES} bytes`, 'Line');
    const words = parseCommandLine(line);
    if (!Array.isArray(words)) throw new BadRequestError(words.error, 'Line');
    if (words.length === 0) throw new BadRequestError('The line is empty', 'Line');
    return words;
  }

  /** The session's level, lowered to what the caller's role allows now (a role taken away counts at once). */
  #levelOf(row: ActionRow, principal: Principal): LiveLevel {
    const opened = this.#settingsOf(row)?.level ?? 'basic';
    return opened === 'advanced' && LiveResponseService.levelOf(principal) === 'advanced' ? 'advanced' : 'basic';
  }

  /** The scan content a scan started now would use: the newest published version of each (none yet: left out). */
  async #scanContent(): Promise<LiveScanContentRef[]> {
    const latest = await Promise.all(AGENT_CONTENT.map(async ({ kind, name }) => ({ kind, name, published: await this.content.latest(kind, name) })));
    return latest.flatMap(({ kind, name, published }) => (published ? [{ kind, name, version: published.manifest.version }] : []));
  }

  /** Whether the device's group allowed `shell` when the session opened (its signed parameters say it). */
  #shellAllowed(row: ActionRow): boolean {
    return this.#settingsOf(row)?.shell === true;
  }

  /** A session's settings as its action's parameters say them (null: not a session); a session's are parsed once (an action's parameters never change). */
  #settingsOf(row: ActionRow): LiveSessionParameters['session'] | null {
    const known = this.#settings.get(row.id);
    if (known) return known;
    const params = LiveSessionParameters.safeParse(JSON.parse(row.parameters));
    if (!params.success) return null;
    if (this.#settings.size >= MAX_REMEMBERED_SESSIONS) this.#settings.clear();
    this.#settings.set(row.id, params.data.session);
    return params.data.session;
  }

  /** Stores an input chunk under the line's next chunk number (taken again if another node took it first), signed. */
  async #storeInput(row: ActionRow, seq: number, input: LiveInput): Promise<LiveInputRow> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const chunk = await this.repo.nextChunk(row.id, seq);
      const now = this.now();
      const signed = this.signer.sign({
        actionId: randomUUID(),
        machineId: row.machine_id,
        type: 'LiveResponse',
        parameters: { sessionId: row.id, seq, chunk, ...input },
        issuedAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + LINE_EXPIRY_SECONDS * 1000).toISOString(),
      });
      const values: LiveInputRow = {
        session_id: row.id,
        seq,
        chunk,
        machine_id: row.machine_id,
        data: input.data ?? null,
        cols: input.cols ?? null,
        rows: input.rows ?? null,
        signed_payload: signed.payload,
        signature: signed.signature,
        key_id: signed.keyId,
        sent_at: now.toISOString(),
      };
      if (await this.repo.insertInput(values)) return values;
    }
    throw new ConflictError('Too much input was sent to this shell at once; send it again', 'Busy');
  }

  /** The audit entry of a shell's end (its start is the line's own entry); its keystrokes are in the transcript. */
  async #auditShellEnd(sessionId: string, seq: number, exitStatus: number, error: string | null): Promise<void> {
    const cmd = await this.repo.command(sessionId, seq);
    if (!cmd) return;
    const chunks = await this.repo.nextChunk(sessionId, seq);
    await this.audit.record({ actor: cmd.issued_by, action: 'LiveResponseShellEnded', targetType: 'machine', targetId: cmd.machine_id, outcome: 'Succeeded', detail: { sessionId, seq, exitStatus, error, inputChunks: chunks - 1 } });
  }

  /** Stores the line under the session's next number (taken again if another node took it first), signed. */
  async #store(principal: Principal, row: ActionRow, line: string, command: string, extra: ExtraParameters): Promise<LiveCommandRow> {
    for (let attempt = 0; attempt < 5; attempt++) {
      // The number after this node's last line of the session; read when unknown, or when another node took it.
      const seq = (attempt === 0 ? this.#nextSeq.get(row.id) : undefined) ?? (await this.repo.nextSeq(row.id));
      const now = this.now();
      const signed = this.signer.sign({
        actionId: randomUUID(),
        machineId: row.machine_id,
        type: 'LiveResponse',
        parameters: { sessionId: row.id, seq, line, ...extra },
        issuedAt: now.toISOString(),
        expiresAt: new Date(now.getTime() + LINE_EXPIRY_SECONDS * 1000).toISOString(),
      });
      const values = {
        session_id: row.id,
        seq,
        machine_id: row.machine_id,
        line,
        command: command.slice(0, 64),
        issued_by: principal.name,
        status: 'Running',
        exit_status: null,
        error: null,
        cwd: null,
        truncated: 0,
        data: null,
        signed_payload: signed.payload,
        signature: signed.signature,
        key_id: signed.keyId,
        started_at: now.toISOString(),
        ended_at: null,
      };
      if (await this.repo.insertCommand(values)) {
        if (this.#nextSeq.size >= MAX_REMEMBERED_SESSIONS) this.#nextSeq.clear();
        this.#nextSeq.set(row.id, seq + 1);
        return values;
      }
    }
    throw new ConflictError('Too many lines were sent to this session at once; send it again', 'Busy');
  }

  /** `library`: the library's files, answered by the server (the device need not be asked). */
  async #answerHere(cmd: LiveCommandRow): Promise<void> {
    const files = await this.library.list();
    const text = files.length ? files.map((f) => `${f.file_name}\t${f.sha256.slice(0, 12)}\t${f.description ?? ''}`).join('\n') + '\n' : 'The library is empty (an admin uploads scripts with POST /api/libraryfiles or `cordon library upload`)\n';
    const at = this.now().toISOString();
    await this.repo.appendOutput(cmd.session_id, Number(cmd.seq), text, at);
    const data = files.map((f) => ({ fileName: f.file_name, sha256: f.sha256, description: f.description, hasParameters: Number(f.has_parameters) === 1, parametersDescription: f.parameters_description }));
    await this.repo.finish(cmd.session_id, Number(cmd.seq), { status: 'Succeeded', exit_status: 0, error: null, cwd: null, truncated: 0, data: JSON.stringify(data), ended_at: at });
    this.#hint(cmd.machine_id, cmd.session_id);
  }

  /** The line an agent speaks of, if it is its own and still running. */
  async #line(machineId: string, sessionId: string, seq: number): Promise<OpenLine | undefined> {
    const key = `${sessionId}/${seq}`;
    let line = this.#open.get(key);
    if (!line) {
      const cmd = await this.repo.command(sessionId, seq);
      if (!cmd || cmd.machine_id !== machineId || cmd.status !== 'Running') {
        this.logger.warn({ machineId, sessionId, seq }, 'an agent reported on a live line that is not its own or not running; ignored');
        return undefined;
      }
      line = { machineId, chars: 0, cut: false, shell: cmd.command === 'shell', row: cmd };
      this.#open.set(key, line);
    }
    return line.machineId === machineId ? line : undefined;
  }

  async #deviceOffline(machineId: string): Promise<void> {
    for (const [key, line] of this.#open) if (line.machineId === machineId) this.#open.delete(key);
    await this.#failRunning(machineId, { machineId }, 'The device went offline while the line ran');
  }

  /** As #extend, but only once less than half of that time is left: most lines then cost no write. */
  async #extendIfHalfSpent(row: ActionRow, seconds: number): Promise<void> {
    const left = Date.parse(row.expires_at) - this.now().getTime();
    if (left < (seconds * 1000) / 2) await this.#extend(row.id, seconds);
  }

  /**
   * Ends the running lines the device will not answer. A shell among them gets its end audited
   * here, since its agent never reports it (only the node whose update ended a line audits it).
   */
  async #failRunning(machineId: string, where: { sessionId: string } | { machineId: string }, error: string): Promise<void> {
    const ended = await this.repo.failRunning(where, error, this.now().toISOString());
    for (const sessionId of new Set(ended.map((e) => e.sessionId))) this.#hint(machineId, sessionId);
    for (const e of ended) if (e.command === 'shell') await this.#auditShellEnd(e.sessionId, e.seq, 1, error);
  }

  /** Keeps an active session from expiring for `seconds` more. */
  async #extend(sessionId: string, seconds: number): Promise<void> {
    await this.actionsRepo.transition(sessionId, ['InProgress'], { expires_at: new Date(this.now().getTime() + seconds * 1000).toISOString() });
  }

  #hint(machineId: string, sessionId: string): void {
    this.hub.emit({ kind: 'liveResponse', sessionId, machineId });
  }

  /** Hands a change to the session's followers here; the hint goes to this node too only if one of them must read the store. */
  #tell(machineId: string, sessionId: string, change: LiveChange): void {
    let taken = true;
    for (const take of this.#followers.get(sessionId) ?? []) {
      try {
        if (!take(change)) taken = false;
      } catch (err) {
        // A follower that failed to send reads the store on the hint like one that declined.
        this.logger.warn({ err, sessionId }, 'a live-response follower failed to take a change');
        taken = false;
      }
    }
    if (taken) this.hub.emitElsewhere({ kind: 'liveResponse', sessionId, machineId });
    else this.#hint(machineId, sessionId);
  }

  async #session(id: string): Promise<ActionRow> {
    const row = await this.actionsRepo.get(id);
    if (!row || !this.#isSession(row)) throw new NotFoundError('Live response session', id);
    return row;
  }

  #isSession(row: ActionRow): boolean {
    return row.type === 'LiveResponse' && this.#settingsOf(row) !== null;
  }

  #endReason(row: ActionRow): string | null {
    if (!endedStatuses.has(row.status)) return null;
    const result = row.result ? (JSON.parse(row.result) as { endReason?: unknown }) : null;
    if (typeof result?.endReason === 'string') return result.endReason;
    return row.status === 'TimeOut' ? (row.delivered_at ? 'IdleTimeout' : 'The device did not connect in time') : row.status === 'Cancelled' ? `Ended by ${row.cancellation_requestor ?? 'a user'}` : (row.error ?? row.status);
  }

  #view(row: ActionRow, commands: number): LiveSessionView {
    return {
      id: row.id,
      machineId: row.machine_id,
      computerDnsName: row.computer_dns_name,
      openedBy: row.requestor,
      comment: row.requestor_comment,
      level: this.#settingsOf(row)?.level ?? 'basic',
      state: stateOf(row.status),
      status: row.status,
      endReason: this.#endReason(row),
      createdAt: row.created_at,
      lastUpdateAt: row.updated_at,
      expiresAt: row.expires_at,
      commands,
    };
  }
}

/** Every command a session knows (the level table), for clients that complete command names. */
export const LIVE_COMMANDS = Object.keys(LIVE_COMMAND_LEVELS);
