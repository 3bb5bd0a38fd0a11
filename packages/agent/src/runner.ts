import { randomUUID } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { verifyCommand, type AgentFrame, type ActionType, type CommandPayload, type SignedCommand } from '@cordon/protocol';
import type { WalkRoots } from './actions/collect-package/types.js';
import { FailedWithResult, type ActionManifest, type Scanning } from './actions/types.js';
import type { Journal } from './journal.js';
import type { LiveSessions } from './live/sessions.js';
import type { AgentModules } from './modules/index.js';
import type { Platform } from './platform/types.js';
import { ActionSlots } from './runner-slots.js';

/** Actions of one type running at once when the manifest does not say. */
export const DEFAULT_ACTION_CONCURRENCY = 4;
/** Actions running at once in all, when the agent does not say: the device is someone's work machine. */
export const DEFAULT_GLOBAL_CONCURRENCY = 8;

/** An action's temp directory is named after it, so one a killed process left behind can be found. */
const tempPrefix = (type: string, actionId: string) => `cordon-${type}-${actionId}-`;

/** What a command ends with, as journaled and reported. */
type RunResult = { status: 'Succeeded' | 'Failed'; error: string | null; result: Record<string, unknown> | null };

export interface RunnerDeps {
  journal: Journal;
  actions: Map<ActionType, ActionManifest>;
  platform: Platform;
  machineId: string;
  signingPublicKeyPem: string;
  logger: Logger;
  now: () => Date;
  /** Sends a frame if connected; results not sent stay in the journal's outbox. */
  send(frame: AgentFrame): boolean;
  sendInventory(): Promise<void>;
  modules: AgentModules;
  dataDir: string;
  /** Uploads a file for an action (an investigation package) to the server. */
  upload(actionId: string, source: AsyncIterable<Buffer>, opts: { signal: AbortSignal; onProgress?: (bytes: number) => void }): Promise<{ size: number; sha256: string; resumed: number }>;
  /** Directories file listings walk instead of the usual ones. */
  walkRoots?: WalkRoots;
  /** What scans use. */
  scanning?: Scanning;
  /** Where live-response sessions are kept while their actions run. */
  live?: LiveSessions;
  /** Where actions get their temp directories (default: the system's). */
  tempRoot?: string;
  /** Fault injection: a pause before each action, so tests can act while one is in flight. */
  delayMs?: number;
  /** Actions running at once, all types together (default {@link DEFAULT_GLOBAL_CONCURRENCY}). */
  maxConcurrent?: number;
}

/**
 * Receives signed commands and runs each at most once. Order of work for a command: verify
 * (signature, machine, expiry) → check the journal → wait for a slot (the action's and the
 * global concurrency) → journal as running → ack → run within its budget → journal the result →
 * report it.
 *
 * A command waiting for a slot is neither journaled nor acked: for the server it is still
 * Pending, so it can still be cancelled (dropped here unrun), and after an agent restart the
 * server delivers it again and it runs then — once, as nothing of it ran before.
 */
export class CommandRunner {
  /** Identifies this process in the journal, to tell interrupted actions from running ones. */
  readonly bootId = randomUUID();
  readonly #running = new Map<string, AbortController>();
  /** Commands waiting for a slot, by action id. */
  readonly #queued = new Map<string, CommandPayload>();
  readonly #slots: ActionSlots;

  constructor(private readonly deps: RunnerDeps) {
    this.#slots = new ActionSlots(deps.maxConcurrent ?? DEFAULT_GLOBAL_CONCURRENCY);
  }

  /** At start-up: actions a killed process left running are reported as interrupted, never re-run. */
  recoverInterrupted(): number {
    const lost = this.deps.journal.interrupted(this.bootId);
    for (const e of lost) {
      this.deps.logger.warn({ actionId: e.actionId, type: e.type }, 'action was interrupted by an agent restart; reporting it as failed');
      this.deps.journal.put({ ...e, state: 'done', result: { status: 'Failed', error: 'The agent stopped while the action was running (restart or crash); it was not run again', result: { interrupted: true } }, reported: false });
      this.#removeTempDirs(e.type, e.actionId);
    }
    return lost.length;
  }

  /** A killed process never reached its actions' `finally`: their temp directories (named after the action) go now. */
  #removeTempDirs(type: string, actionId: string): void {
    const root = this.deps.tempRoot ?? tmpdir();
    let names: string[];
    try {
      names = readdirSync(root);
    } catch {
      return;
    }
    for (const n of names) if (n.startsWith(tempPrefix(type, actionId))) rmSync(join(root, n), { recursive: true, force: true });
  }

  /** Re-sends every result the server has not confirmed (after each reconnect). */
  flushOutbox(): void {
    for (const e of this.deps.journal.unreported()) {
      if (!this.deps.send({ type: 'result', actionId: e.actionId, status: e.result!.status, error: e.result!.error, result: e.result!.result })) return;
    }
  }

  resultAcknowledged(actionId: string): void {
    const e = this.deps.journal.get(actionId);
    if (e && e.state === 'done' && !e.reported) this.deps.journal.put({ ...e, reported: true });
  }

  cancel(actionId: string): void {
    const queued = this.#queued.get(actionId);
    if (queued && this.#slots.drop(actionId)) {
      // Never started, never acked: journaled as cancelled so a redelivery is dropped unrun too.
      this.#queued.delete(actionId);
      this.deps.logger.info({ actionId, type: queued.type }, 'cancelled a queued action before it started');
      this.deps.journal.put({ actionId, type: queued.type, expiresAt: queued.expiresAt, state: 'cancelled', bootId: this.bootId, startedAt: this.deps.now().toISOString(), reported: true });
      return;
    }
    const e = this.deps.journal.get(actionId);
    if (!e) {
      // Cancelled before it arrived: remember, so a late delivery is dropped unrun.
      this.deps.journal.put({ actionId, type: 'unknown', expiresAt: new Date(this.deps.now().getTime() + 7 * 86400_000).toISOString(), state: 'cancelled', bootId: this.bootId, startedAt: this.deps.now().toISOString(), reported: true });
    } else {
      this.#running.get(actionId)?.abort(new Error('cancelled by the server'));
    }
  }

  /**
   * The connection closed: commands still waiting for a slot are forgotten (never journaled, never
   * acked). The server sends every one still Pending again when the agent reconnects, and none it
   * cancelled meanwhile: a cancel sent while the agent was away can never be missed.
   */
  dropQueued(): number {
    let n = 0;
    for (const [actionId, cmd] of [...this.#queued]) {
      if (!this.#slots.drop(actionId)) continue;
      this.#queued.delete(actionId);
      this.deps.logger.info({ actionId, type: cmd.type }, 'disconnected: dropped a queued action; the server sends it again if it is still pending');
      n++;
    }
    return n;
  }

  async handle(signed: SignedCommand): Promise<void> {
    const { deps } = this;
    const v = verifyCommand(signed, deps.signingPublicKeyPem, deps.machineId, deps.now());
    if (!v.ok) {
      deps.logger.warn({ actionId: v.actionId, reason: v.reason }, `refused a command: ${v.detail}`);
      deps.send({ type: 'refused', actionId: v.actionId, reason: v.reason, detail: v.detail });
      return;
    }
    const cmd = v.command;
    if (this.#queued.has(cmd.actionId)) {
      deps.logger.info({ actionId: cmd.actionId }, 'command already waiting for a slot; not queuing it twice');
      return;
    }
    const seen = deps.journal.get(cmd.actionId);
    if (seen) return this.#repeat(cmd, seen.state);
    const action = deps.actions.get(cmd.type);
    if (!action) {
      const startedAt = this.#start(cmd);
      return this.#finish(cmd, startedAt, { status: 'Failed', error: `This agent cannot run ${cmd.type}`, result: null });
    }
    let startedAt = '';
    this.#queued.set(cmd.actionId, cmd);
    let started: boolean;
    try {
      started = await this.#slots.acquire(cmd.actionId, cmd.type, action.concurrency ?? DEFAULT_ACTION_CONCURRENCY, () => {
        this.#queued.delete(cmd.actionId);
        if (Date.parse(cmd.expiresAt) <= deps.now().getTime()) {
          // It waited past its expiry: the server has given up on it, so it must not run now.
          const detail = `The command expired at ${cmd.expiresAt} while waiting for other actions to finish`;
          deps.logger.warn({ actionId: cmd.actionId, type: cmd.type }, detail);
          deps.send({ type: 'refused', actionId: cmd.actionId, reason: 'Expired', detail });
          return false;
        }
        startedAt = this.#start(cmd);
        return true;
      });
    } finally {
      this.#queued.delete(cmd.actionId);
    }
    if (!started) return;
    try {
      this.#finish(cmd, startedAt, await this.#run(action, cmd));
    } finally {
      // After the result: the next command's ack never overtakes this one's result.
      this.#slots.release(cmd.type);
    }
  }

  /** Journals the command as running, then acks it: the ack tells the server it started. */
  #start(cmd: CommandPayload): string {
    const { deps } = this;
    deps.logger.info({ actionId: cmd.actionId, type: cmd.type }, 'running action');
    const startedAt = deps.now().toISOString();
    deps.journal.put({ actionId: cmd.actionId, type: cmd.type, expiresAt: cmd.expiresAt, state: 'running', bootId: this.bootId, startedAt, reported: false });
    deps.send({ type: 'ack', actionId: cmd.actionId });
    return startedAt;
  }

  #finish(cmd: CommandPayload, startedAt: string, result: RunResult): void {
    this.deps.journal.put({ actionId: cmd.actionId, type: cmd.type, expiresAt: cmd.expiresAt, state: 'done', bootId: this.bootId, startedAt, result, reported: false });
    this.deps.send({ type: 'result', actionId: cmd.actionId, ...result });
  }

  /** A command seen before: say where it stands, never run it again. */
  #repeat(cmd: CommandPayload, state: 'running' | 'done' | 'cancelled'): void {
    const { deps } = this;
    deps.logger.info({ actionId: cmd.actionId, state }, 'command already journaled; not running it again');
    if (state === 'running') deps.send({ type: 'ack', actionId: cmd.actionId });
    if (state === 'done') {
      const e = deps.journal.get(cmd.actionId)!;
      deps.send({ type: 'result', actionId: cmd.actionId, status: e.result!.status, error: e.result!.error, result: e.result!.result });
    }
  }

  async #run(action: ActionManifest, cmd: CommandPayload): Promise<RunResult> {
    const { deps } = this;
    const params = action.parameters.safeParse(cmd.parameters);
    if (!params.success) return { status: 'Failed', error: `Invalid parameters for ${cmd.type}: ${params.error.issues[0]?.message ?? ''}`, result: null };
    const controller = new AbortController();
    this.#running.set(cmd.actionId, controller);
    const tempDir = await mkdtemp(join(deps.tempRoot ?? tmpdir(), tempPrefix(cmd.type, cmd.actionId)));
    let timer: NodeJS.Timeout | undefined;
    try {
      if (deps.delayMs) await new Promise((r) => setTimeout(r, deps.delayMs));
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          const err = new Error(`${cmd.type} did not finish within ${action.timeoutMs / 1000} s`);
          reject(err);
          controller.abort(err);
        }, action.timeoutMs);
      });
      const aborted = new Promise<never>((_, reject) => controller.signal.addEventListener('abort', () => reject(controller.signal.reason as Error), { once: true }));
      const result = await Promise.race([
        action.run(params.data, {
          platform: deps.platform,
          tempDir,
          actionId: cmd.actionId,
          signal: controller.signal,
          progress: (percent, message) => void deps.send({ type: 'progress', actionId: cmd.actionId, percent, message }),
          sendInventory: deps.sendInventory,
          modules: deps.modules,
          cpuPercent: action.cpuPercent,
          dataDir: deps.dataDir,
          walkRoots: deps.walkRoots,
          scanning: deps.scanning,
          live: deps.live,
          upload: (source, onProgress) => deps.upload(cmd.actionId, source, { signal: controller.signal, onProgress }),
        }),
        timeout,
        aborted,
      ]);
      const size = Buffer.byteLength(JSON.stringify(result));
      if (size > action.maxResultBytes) return { status: 'Failed', error: `${cmd.type} produced a ${size}-byte result, over its ${action.maxResultBytes}-byte budget`, result: null };
      return { status: 'Succeeded', error: null, result };
    } catch (e) {
      if (e instanceof FailedWithResult && Buffer.byteLength(JSON.stringify(e.result)) <= action.maxResultBytes) return { status: 'Failed', error: e.message, result: e.result };
      return { status: 'Failed', error: (e as Error).message || String(e), result: null };
    } finally {
      clearTimeout(timer);
      this.#running.delete(cmd.actionId);
      await rm(tempDir, { recursive: true, force: true });
    }
  }
}
