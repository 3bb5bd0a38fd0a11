import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, statSync, watch, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Logger } from 'pino';
import type { AgentDetection, AlertEvidence, DeviceEventKind, RestrictionReport } from '@cordon/protocol';
import type { IndicatorSet } from '../../content/indicators.js';
import { writeFileDurable } from '../../durable.js';
import { execGuardBinary } from '../../platform/linux/exec-guard-binary.js';
import type { Platform } from '../../platform/types.js';
import type { AgentModule, ModuleReport } from '../types.js';
import { RepeatLimiter } from './repeat-limiter.js';
import { readRestrictionOrFailClosed, UNRESTRICTED, writeRestriction, type RestrictionState } from './state.js';
import { buildTrustList, DEFAULT_TRUST_SOURCES, type TrustList, type TrustSources } from './trust-list.js';

/** One alert per blocked (path, SHA-256) at most this often; the next one counts the repeats. */
export const BLOCK_ALERT_EVERY_MS = 10 * 60_000;
/** The device's users hear of blocked programs at most this often. */
export const USER_NOTICE_EVERY_MS = 60_000;
/** Waits between restarts of a guard that keeps stopping: 1 s, doubling, at most 30 s. */
const RESTART_DELAYS_MS = [1000, 2000, 4000, 8000, 16_000, 30_000];

export interface RestrictionDeps {
  dataDir: string;
  platform: Pick<Platform, 'notifyUsers'>;
  indicators: IndicatorSet;
  reportEvent: (kind: DeviceEventKind, data: AgentDetection) => void;
  logger: Logger;
  /** The guard program (default: the one scripts/build.mjs compiled). */
  guardBinary?: string;
  /**
   * How the guard is started from its program and arguments. Tests wrap it in nsenter into a private
   * mount namespace (the guard restricts the mount namespace it runs in); the agent runs it as is.
   */
  guardCommand?: (binary: string, args: string[]) => [string, string[]];
  trustSources?: Partial<TrustSources>;
  /** Package-database files whose change means the trust list is rebuilt (an upgrade must not lock the device). */
  packageWatch?: readonly string[];
  readyTimeoutMs?: number;
  restartDelaysMs?: readonly number[];
  now?: () => Date;
  /**
   * Called when the report changed on its own, between watchdog checks (the guard stopped, or came
   * back): the agent sends its inventory, so the server sees a gap in enforcement when it happens.
   */
  reportChanged?: () => void;
}

interface GuardLine {
  event: string;
  [k: string]: unknown;
}

interface RunningGuard {
  child: ChildProcess;
  stderr: string;
  listeners: ((line: GuardLine) => void)[];
}

/**
 * Restrict app execution: keeps the exec guard (native/exec-guard.c) running while the journal says
 * Restricted, its policy the device's trust list. The guard answers the kernel's exec-permission
 * events; when it is not running the kernel lets every program start, so a dead guard never
 * freezes the device: it is restarted (with backoff, and by the watchdog) and reported meanwhile.
 * All changes go through one queue, so an action, a restart and the watchdog never interleave.
 */
export class RestrictionManager implements AgentModule {
  readonly name = 'restriction';
  #queue: Promise<unknown> = Promise.resolve();
  #guard: RunningGuard | null = null;
  /** Whether the guard should be running (the journal said Restricted when last enforced). */
  #wanted = false;
  #guardState: RestrictionReport['guard'] = null;
  #error: string | null = null;
  #trusted: RestrictionReport['trusted'] = null;
  #restartTimer: NodeJS.Timeout | undefined;
  #failures = 0;
  #lastReport?: string;
  #packageSignature = '';
  #watchers: FSWatcher[] = [];
  #rebuildTimer: NodeJS.Timeout | undefined;
  readonly #alerts = new RepeatLimiter(BLOCK_ALERT_EVERY_MS);
  #lastNotice = -Infinity;
  #accounts: Map<number, string> | null = null;
  readonly #binary: string;
  readonly #sources: TrustSources;
  readonly #packageWatch: readonly string[];

  constructor(private readonly deps: RestrictionDeps) {
    this.#binary = deps.guardBinary ?? execGuardBinary().path;
    const dpkgInfoDir = deps.trustSources?.dpkgInfoDir ?? DEFAULT_TRUST_SOURCES.dpkgInfoDir;
    this.#sources = { ...DEFAULT_TRUST_SOURCES, selfPaths: [process.execPath, this.#binary], ...deps.trustSources, dpkgInfoDir };
    this.#packageWatch = deps.packageWatch ?? [dpkgInfoDir, join(dpkgInfoDir, '../status'), '/var/lib/rpm', '/usr/lib/sysimage/rpm'];
    // Allowed hashes come and go with the indicators: the running guard gets the new list at once.
    deps.indicators.onChange(() => void this.#exclusive(() => this.#reload('the indicators changed')));
  }

  get #policyFile(): string {
    return join(this.deps.dataDir, 'restriction', 'policy');
  }

  /** The guard's process id while it runs (diagnostics and the watchdog's test). */
  get guardPid(): number | null {
    return this.#guard?.child.pid ?? null;
  }

  #read(): RestrictionState {
    return readRestrictionOrFailClosed(this.deps.dataDir, (e) => this.deps.logger.error({ err: e.message }, 'the restriction journal is damaged: enforcing the restriction until a restrict or unrestrict action rewrites it'));
  }

  status(): RestrictionReport {
    return this.#reportOf(this.#read());
  }

  report(): ModuleReport {
    return { restriction: this.#reportOf(readRestrictionOrFailClosed(this.deps.dataDir)) };
  }

  #reportOf(s: RestrictionState): RestrictionReport {
    if (s.state === 'Unrestricted') return { state: 'Unrestricted', since: null, guard: null, error: null, trusted: null };
    return { state: 'Restricted', since: s.since, guard: this.#guardState ?? 'restarting', error: this.#error?.slice(0, 512) ?? null, trusted: this.#trusted };
  }

  /** Restricts (idempotent: already restricted rebuilds the trust list). Throws with the reason, nothing restricted, on failure. */
  restrict(actionId: string): Promise<{ restriction: RestrictionReport; trusted: TrustList['sources'] & { packageFiles: number; allowedHashes: number } }> {
    return this.#exclusive(async () => {
      const previous = this.#read();
      // Built first: a database that cannot be read fails the action before anything changes.
      const list = await this.#writeTrustList();
      const since = previous.state === 'Restricted' && previous.since ? previous.since : this.#now().toISOString();
      writeRestriction(this.deps.dataDir, { state: 'Restricted', since, actionId });
      this.#wanted = true;
      this.#error = null;
      try {
        if (this.#guard) await this.#signalReload();
        else await this.#startGuard();
      } catch (e) {
        // Back to where the device was: unrestricted (nothing blocked), or the earlier restriction.
        if (previous.state !== 'Restricted') {
          this.#wanted = false;
          writeRestriction(this.deps.dataDir, previous);
          await this.#stopGuard();
          this.#trusted = null;
          throw new Error(`Rolled back: ${(e as Error).message}`);
        }
        // Restricted before, and it stays so: the guard comes back like after any stop.
        this.#guardState = 'restarting';
        this.#error = (e as Error).message;
        this.#scheduleRestart();
        throw new Error(`The device stays restricted, but the exec guard is not running (retrying): ${(e as Error).message}`);
      }
      this.#startWatching();
      if (previous.state !== 'Restricted') {
        await this.#notify('App execution on this device is now restricted by your security team: only trusted programs may start.');
        this.deps.logger.warn({ packageFiles: list.packageFiles, allowedHashes: list.allowedHashes, packageManagers: list.sources.packageManagers }, 'app execution restricted');
      }
      return { restriction: this.#reportOf(this.#read()), trusted: { ...list.sources, packageFiles: list.packageFiles, allowedHashes: list.allowedHashes } };
    });
  }

  /** Lifts the restriction (idempotent). The journal goes first: a crash in between still ends unrestricted. */
  unrestrict(): Promise<{ wasRestricted: boolean; restriction: RestrictionReport }> {
    return this.#exclusive(async () => {
      const previous = this.#read();
      writeRestriction(this.deps.dataDir, { ...UNRESTRICTED });
      await this.#lift();
      if (previous.state === 'Restricted') {
        await this.#notify('The restriction of app execution on this device has been lifted by your security team.');
        this.deps.logger.warn('app execution unrestricted');
      }
      return { wasRestricted: previous.state === 'Restricted', restriction: this.#reportOf(this.#read()) };
    });
  }

  /** At start: the journal says Restricted (or is damaged) → the guard runs again before the agent connects. */
  restore(): Promise<void> {
    return this.#exclusive(async () => {
      const s = this.#read();
      this.#lastReport = JSON.stringify(this.#reportOf(s));
      if (s.state !== 'Restricted') return;
      this.deps.logger.warn({ since: s.since }, 're-applying the restriction of app execution from the journal');
      this.#wanted = true;
      this.#startWatching();
      await this.#restartNow();
    });
  }

  /** The watchdog: a guard that is down comes back, a lifted journal stops it, a changed package database reloads it. */
  check(): Promise<boolean> {
    return this.#exclusive(async () => {
      const s = this.#read();
      if (s.state === 'Restricted') {
        this.#wanted = true;
        if (!this.#guard) await this.#restartNow();
        else if (this.#packageSignatureChanged()) await this.#reload('the package database changed');
      } else if (this.#wanted || this.#guard) {
        await this.#lift();
      }
      const report = JSON.stringify(this.#reportOf(s));
      const changed = report !== this.#lastReport;
      this.#lastReport = report;
      return changed;
    });
  }

  /**
   * At agent shutdown the guard stops (it would anyway: it exits when its stdin, the agent, is gone).
   * The journal keeps Restricted, so the next start applies it again; meanwhile no guard runs and the
   * kernel blocks nothing.
   */
  async stop(): Promise<void> {
    await this.#exclusive(async () => {
      this.#wanted = false;
      this.#stopWatching();
      await this.#stopGuard();
    });
  }

  async #lift(): Promise<void> {
    this.#wanted = false;
    this.#stopWatching();
    await this.#stopGuard();
    this.#guardState = null;
    this.#error = null;
    this.#trusted = null;
  }

  /** Rebuilds the trust list into the policy file; answers it. */
  async #writeTrustList(): Promise<TrustList> {
    const list = await buildTrustList(this.deps.indicators.active(this.#now()), this.#sources);
    mkdirSync(join(this.deps.dataDir, 'restriction'), { recursive: true, mode: 0o700 });
    writeFileDurable(this.#policyFile, list.policy);
    this.#trusted = { packageFiles: list.packageFiles, allowedHashes: list.allowedHashes };
    this.#packageSignature = this.#currentPackageSignature();
    return list;
  }

  /** Starts the guard (after rebuilding the trust list; the last one written if the database cannot be read now). */
  async #restartNow(): Promise<void> {
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    if (!this.#wanted || this.#guard) return;
    try {
      try {
        await this.#writeTrustList();
      } catch (e) {
        if (!existsSync(this.#policyFile)) throw e;
        this.deps.logger.error({ err: (e as Error).message }, 'cannot rebuild the trust list; the guard uses the last one');
        this.#error = (e as Error).message;
      }
      await this.#startGuard();
      this.#failures = 0;
    } catch (e) {
      this.#error = (e as Error).message;
      this.#guardState = 'restarting';
      this.deps.logger.error({ err: this.#error }, 'the exec guard could not be started; retrying');
      this.#scheduleRestart();
    }
  }

  #scheduleRestart(): void {
    if (!this.#wanted || this.#restartTimer) return;
    const delays = this.deps.restartDelaysMs ?? RESTART_DELAYS_MS;
    const wait = delays[Math.min(this.#failures, delays.length - 1)]!;
    this.#failures++;
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      void this.#exclusive(() => this.#restartNow());
    }, wait);
    this.#restartTimer.unref();
  }

  /** Spawns the guard with its stdin a pipe kept open (its end is the guard's signal to exit) and waits for `ready`. */
  async #startGuard(): Promise<void> {
    if (!existsSync(this.#binary)) throw new Error(`the exec guard ${this.#binary} is missing (build it: node scripts/build.mjs; needs cc and libssl-dev)`);
    const args = ['--policy', this.#policyFile];
    const [cmd, argv] = this.deps.guardCommand?.(this.#binary, args) ?? [this.#binary, args];
    const child = spawn(cmd, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    const guard: RunningGuard = { child, stderr: '', listeners: [] };
    child.stdin!.on('error', () => undefined); // the guard gone: its exit says why
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (guard.stderr = (guard.stderr + d).slice(-400)));
    createInterface({ input: child.stdout! }).on('line', (l) => this.#onLine(guard, l));
    const ready = this.#next(guard, (e) => e.event === 'ready', this.deps.readyTimeoutMs ?? 15_000);
    child.on('error', (e) => this.#exited(guard, `could not start (${e.message})`));
    child.on('exit', (code, signal) => this.#exited(guard, signal ? `killed by ${signal}` : `exit ${code}`));
    this.#guard = guard;
    try {
      await ready;
    } catch (e) {
      await this.#stopGuard();
      throw new Error(`the exec guard did not become ready: ${(e as Error).message}${guard.stderr ? `: ${guard.stderr.trim()}` : ''}`);
    }
    const restarted = this.#guardState === 'restarting';
    this.#guardState = 'running';
    this.deps.logger.info({ pid: child.pid }, 'exec guard running');
    if (restarted) this.deps.reportChanged?.();
  }

  #exited(guard: RunningGuard, how: string): void {
    for (const l of guard.listeners.splice(0)) l({ event: 'exit', how });
    if (this.#guard !== guard) return;
    this.#guard = null;
    if (!this.#wanted) return;
    // Nothing is blocked while it is down (the kernel answers "allow" when no listener is left).
    this.#guardState = 'restarting';
    // When it stopped is part of the error: a restart can beat the watchdog, and a gap like the last
    // one must still change the report, or the server never hears of it. It stays the last problem
    // once the guard is back, so it says nothing of now (`guard` does).
    this.#error = `the exec guard stopped (${how}) at ${this.#now().toISOString()}${guard.stderr ? `: ${guard.stderr.trim()}` : ''}`;
    this.deps.logger.error({ how, stderr: guard.stderr.trim() }, 'the exec guard stopped; restarting it');
    this.deps.reportChanged?.();
    this.#scheduleRestart();
  }

  async #stopGuard(): Promise<void> {
    const guard = this.#guard;
    this.#guard = null;
    clearTimeout(this.#restartTimer);
    this.#restartTimer = undefined;
    if (!guard || guard.child.exitCode !== null || guard.child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => guard.child.once('exit', () => resolve()));
    guard.child.stdin!.end();
    guard.child.kill('SIGTERM');
    const timer = setTimeout(() => guard.child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  #onLine(guard: RunningGuard, text: string): void {
    let line: GuardLine;
    try {
      line = JSON.parse(text) as GuardLine;
    } catch {
      this.deps.logger.warn({ line: text.slice(0, 200) }, 'the exec guard wrote a line that is not JSON');
      return;
    }
    for (const l of [...guard.listeners]) l(line);
    if (line.event === 'blocked') this.#onBlocked(line);
    else if (line.event === 'error') this.deps.logger.error({ message: line.message }, 'exec guard error');
    // The trusted executables hashed ahead of their first start (native/exec-guard.c, "Warm-up").
    else if (line.event === 'warmed') this.deps.logger.info({ files: line.files, bytes: line.bytes, cached: line.cached, ms: line.ms }, 'exec guard warm-up done');
    // Started under dpkg or rpm (an install or upgrade): allowed by design, so a log line, not an alert.
    else if (line.event === 'allowed') this.deps.logger.info({ manager: line.manager, path: line.path, sha256: line.sha256, unreported: line.unreported }, 'allowed a program the package manager started');
    if (typeof line.dropped === 'number') this.deps.logger.warn({ dropped: line.dropped }, 'the exec guard dropped event lines (the agent read too slowly)');
  }

  /** The next line `match` accepts (the guard's exit rejects). */
  #next(guard: RunningGuard, match: (l: GuardLine) => boolean, timeoutMs: number): Promise<GuardLine> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const listener = (l: GuardLine) => {
        if (l.event === 'exit') done(new Error(`it stopped (${String(l.how)})`));
        else if (match(l)) done(null, l);
      };
      const done = (err: Error | null, l?: GuardLine) => {
        clearTimeout(timer);
        guard.listeners.splice(guard.listeners.indexOf(listener) >>> 0, 1);
        if (err) reject(err);
        else resolve(l!);
      };
      guard.listeners.push(listener);
    });
  }

  /** A new trust list for the running guard; if it cannot be built the guard keeps the one it has. */
  async #reload(why: string): Promise<void> {
    if (!this.#guard || !this.#wanted) return;
    try {
      await this.#writeTrustList();
      await this.#signalReload();
      this.deps.logger.info({ why, ...this.#trusted }, 'exec guard trust list reloaded');
    } catch (e) {
      this.#error = `the trust list was not reloaded (${why}): ${(e as Error).message}`;
      this.deps.logger.error({ err: this.#error }, 'reloading the exec guard failed; it keeps the previous trust list');
    }
  }

  /** SIGHUP makes the guard read the policy file again; waits for its `reloaded` (or `error`: it keeps the old one). */
  async #signalReload(): Promise<void> {
    const guard = this.#guard!;
    const answer = this.#next(guard, (l) => l.event === 'reloaded' || l.event === 'error', 10_000);
    guard.child.kill('SIGHUP');
    const line = await answer;
    if (line.event === 'error') throw new Error(`the guard refused the new policy: ${String(line.message)}`);
  }

  #onBlocked(line: GuardLine): void {
    const path = typeof line.path === 'string' ? line.path : '';
    const sha256 = typeof line.sha256 === 'string' && /^[0-9a-f]{64}$/.test(line.sha256) ? line.sha256 : undefined;
    const now = this.#now().getTime();
    const repeats = this.#alerts.hit(`${path}\n${sha256 ?? ''}`, now);
    const name = basename(path) || path;
    if (now - this.#lastNotice >= USER_NOTICE_EVERY_MS) {
      this.#lastNotice = now;
      void this.#notify(`"${name}" was not allowed to start: only trusted programs may run on this device (restricted by your security team).`);
    }
    if (repeats === null) return;
    this.deps.reportEvent('blockedExecution', this.#detection(line, path, name, sha256, repeats));
  }

  #detection(line: GuardLine, path: string, name: string, sha256: string | undefined, repeats: number): AgentDetection {
    const pid = typeof line.pid === 'number' && line.pid >= 0 ? line.pid : undefined;
    const ppid = typeof line.ppid === 'number' && line.ppid >= 0 ? line.ppid : undefined;
    const uid = typeof line.uid === 'number' && line.uid >= 0 ? line.uid : undefined;
    const why =
      line.reason === 'mismatch'
        ? 'its content differs from what its package installed'
        : line.reason === 'deadline'
          ? 'it could not be checked in time'
          : 'no package installed it and no Allowed indicator names its SHA-256';
    const file: AlertEvidence = { entityType: 'File', filePath: clean(path, 4096), fileName: clean(name, 1024), detectionStatus: 'Blocked', ...(sha256 ? { sha256 } : {}) };
    // The guard reads it while the program waits; read here only if it could not (the parent may be gone by now).
    const parentPath = typeof line.parentExe === 'string' ? line.parentExe : ppid === undefined ? undefined : readLink(`/proc/${ppid}/exe`);
    const account = uid === undefined ? undefined : this.#accountName(uid);
    const proc: AlertEvidence = {
      entityType: 'Process',
      ...(pid !== undefined ? { processId: pid } : {}),
      ...(ppid !== undefined ? { parentProcessId: ppid } : {}),
      ...(parentPath ? { parentProcessFilePath: clean(parentPath, 4096) } : {}),
      ...(account ? { accountName: clean(account, 256) } : {}),
    };
    const more = repeats > 0 ? ` It was blocked ${repeats} more time(s) since the last alert about it.` : '';
    return {
      title: clean(`Blocked an untrusted program: ${name}`, 512),
      severity: 'Low',
      description: clean(`${path}${sha256 ? ` (SHA-256 ${sha256})` : ''} was not allowed to start: ${why}. App execution is restricted on this device.${more}`, 8192),
      category: 'Execution',
      detectionSource: 'ExecutionControl',
      evidence: [file, proc],
    };
  }

  /** A user's name from /etc/passwd (read once), or `uid <n>`. */
  #accountName(uid: number): string {
    if (!this.#accounts) {
      this.#accounts = new Map();
      try {
        for (const l of readFileSync('/etc/passwd', 'utf8').split('\n')) {
          const [user, , id] = l.split(':');
          if (user && id && /^\d+$/.test(id)) this.#accounts.set(Number(id), user);
        }
      } catch {
        // No passwd (a minimal container): numbers only.
      }
    }
    return this.#accounts.get(uid) ?? `uid ${uid}`;
  }

  /** The package database's files as mtimes: a change (an install or upgrade) means a new trust list. */
  #currentPackageSignature(): string {
    return this.#packageWatch
      .map((p) => {
        try {
          return String(statSync(p).mtimeMs);
        } catch {
          return '-';
        }
      })
      .join(' ');
  }

  #packageSignatureChanged(): boolean {
    return this.#currentPackageSignature() !== this.#packageSignature;
  }

  /** Reloads shortly after the package database changes, without waiting for the watchdog (which also looks). */
  #startWatching(): void {
    if (this.#watchers.length > 0) return;
    for (const p of this.#packageWatch) {
      try {
        const w = watch(p, () => {
          clearTimeout(this.#rebuildTimer);
          // dpkg writes many files in a row: one rebuild once it pauses.
          this.#rebuildTimer = setTimeout(() => void this.#exclusive(async () => (this.#packageSignatureChanged() ? this.#reload('the package database changed') : undefined)), 1000);
          this.#rebuildTimer.unref();
        });
        w.on('error', () => w.close());
        w.unref();
        this.#watchers.push(w);
      } catch {
        // Not there (no rpm, say): the watchdog's mtime check covers what appears later.
      }
    }
  }

  #stopWatching(): void {
    clearTimeout(this.#rebuildTimer);
    for (const w of this.#watchers.splice(0)) w.close();
  }

  async #notify(message: string): Promise<void> {
    try {
      await this.deps.platform.notifyUsers('Cordon', message);
    } catch (err) {
      this.deps.logger.warn({ err }, 'could not notify the device users');
    }
  }

  #now(): Date {
    return this.deps.now?.() ?? new Date();
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(fn, fn);
    this.#queue = next.catch(() => undefined);
    return next;
  }
}

function readLink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}

/** Text the server accepts: no NUL, within its length. */
const clean = (s: string, max: number): string => s.replaceAll('\u0000', '').slice(0, max);
