/**
 * The exec-guard's test bed (its test and bench/exec-guard.bench.ts): a private mount namespace, the
 * guard started inside it, exec probes, and a policy made from dpkg's md5sums.
 *
 * Safety: the guard marks every mount of the namespace it runs in, so it only ever runs through
 * {@link MountNamespace}, whose constructor proves the namespace is not the host's.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { execGuardBinary, execProbeBinary } from './exec-guard-binary.js';

// The converter is production code now (the restriction module builds its trust list with it).
export { dpkgPolicyLines } from './package-digests.js';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program to its end, with an argument array. */
export function runProgram(cmd: string, args: string[], opts: { input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    // A program that exits without reading its input (most do) closes the pipe first: EPIPE here is
    // no error of the run (its exit status says how it went); unhandled, it failed a CI run.
    child.stdin.on('error', () => undefined);
    if (opts.input === undefined) child.stdin.end();
    else child.stdin.end(opts.input);
  });
}

const delay = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A private mount namespace held open by a `sleep` started with `unshare -m --propagation private`. */
export class MountNamespace {
  private constructor(
    private readonly holder: ChildProcess,
    readonly pid: number,
  ) {}

  static async create(): Promise<MountNamespace> {
    const holder = spawn('unshare', ['-m', '--propagation', 'private', '--', 'sleep', 'infinity'], { stdio: 'ignore' });
    const pid = holder.pid;
    if (pid === undefined) throw new Error('unshare did not start');
    const host = readlinkSync('/proc/self/ns/mnt');
    // unshare switches namespaces before it starts sleep; nothing announces it, so look (≤ 5 s).
    for (let i = 0; i < 500; i++) {
      let ns: string | undefined;
      try {
        ns = readlinkSync(`/proc/${pid}/ns/mnt`);
      } catch {
        break; // the holder is gone
      }
      // Switched, and unshare has become sleep (so nothing of its own start is still under way).
      if (ns !== host) {
        const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
        if (comm === 'sleep') return new MountNamespace(holder, pid);
      }
      await delay(10);
    }
    holder.kill('SIGKILL');
    throw new Error('could not make a private mount namespace (unshare -m)');
  }

  /** nsenter's arguments that run `cmd args` inside this namespace (never the host's: checked again). */
  nsenterArgs(cmd: string, args: string[]): string[] {
    if (readlinkSync(`/proc/${this.pid}/ns/mnt`) === readlinkSync('/proc/self/ns/mnt')) throw new Error('the holder is in the host mount namespace');
    return [`--mount=/proc/${this.pid}/ns/mnt`, '--', cmd, ...args];
  }

  run(cmd: string, args: string[]): Promise<RunResult> {
    return runProgram('nsenter', this.nsenterArgs(cmd, args));
  }

  async mustRun(cmd: string, args: string[]): Promise<string> {
    const r = await this.run(cmd, args);
    if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} in the namespace: exit ${r.code}: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** A path as this namespace sees it, for the test's own file operations from the host. */
  view(path: string): string {
    return `/proc/${this.pid}/root${path}`;
  }

  close(): void {
    this.holder.kill('SIGKILL');
  }
}

export interface ProbeResult {
  outcome: string;
  micros: number;
  path: string;
}

/** exec-probe's lines: outcome, microseconds, path. */
export function parseProbe(stdout: string): ProbeResult[] {
  return stdout
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [outcome, micros, ...path] = l.split('\t');
      return { outcome: outcome!, micros: Number(micros), path: path.join('\t') };
    });
}

/** Execs each path inside the namespace without running it (native/exec-probe.c); `onStart` gets the probe's pid. */
export async function probe(ns: MountNamespace | null, paths: string[], onStart?: (pid: number) => void): Promise<ProbeResult[]> {
  const bin = execProbeBinary().path;
  const [cmd, args] = ns ? ['nsenter', ns.nsenterArgs(bin, paths)] : [bin, paths];
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid !== undefined) onStart?.(child.pid); // nsenter execs the probe: same pid
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', resolve);
  });
  if (code !== 0) throw new Error(`exec-probe: exit ${code}: ${stderr.trim()}`);
  return parseProbe(stdout);
}

export type GuardEvent = { event: string } & Record<string, unknown>;

/** A running cordon-exec-guard and the JSON lines it wrote. */
export class Guard {
  readonly events: GuardEvent[] = [];
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly child: ChildProcess) {
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.events.push(JSON.parse(l) as GuardEvent);
      for (const w of this.waiters.splice(0)) w();
    });
    this.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Starts the guard inside `ns`. Its stdin stays open until {@link endInput} or kill. */
  static start(ns: MountNamespace, policyFile: string, extra: string[] = []): Guard {
    const child = spawn('nsenter', ns.nsenterArgs(execGuardBinary().path, ['--policy', policyFile, ...extra]), { stdio: ['pipe', 'pipe', 'pipe'] });
    return new Guard(child);
  }

  /** The first event at or after index `from` that `match` accepts; fails after `timeoutMs`. */
  async waitFor(match: (e: GuardEvent) => boolean, from = 0, timeoutMs = 10_000): Promise<GuardEvent> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      const left = until - Date.now();
      if (left <= 0) throw new Error(`no matching guard event within ${timeoutMs} ms; got ${JSON.stringify(this.events.slice(from))}; stderr ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  ready(): Promise<GuardEvent> {
    return this.waitFor((e) => e.event === 'ready');
  }

  endInput(): void {
    this.child.stdin!.end();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

export const sha256Of = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');
export const md5Of = (data: Buffer | string) => createHash('md5').update(data).digest('hex');
