/**
 * A real `cordon agent run` in a private mount namespace of its own, for the tests of Restrict app
 * execution (e2e/restriction.test.ts with the CLI, e2e/console-restriction.test.ts in the browser).
 *
 * Safety: the exec guard restricts the mount namespace it runs in, so the whole agent runs inside a
 * private mount namespace (`unshare -m --propagation private`), and a test proves it is not the
 * host's ({@link NamespacedAgent.inOwnNamespace}) before anything is restricted. Programs run
 * inside it through nsenter, which refuses the host's namespace each time; untrusted copies live on
 * a tmpfs mounted there only. Every guard an agent ran is recorded, so a test can check none is
 * left once its agents are killed ({@link noGuardLeft}).
 *
 *   const skip = restrictionSkip();
 *   const agent = new NamespacedAgent(agentDir);
 *   await agent.inOwnNamespace();
 *   await agent.mountTmpfs(mnt);
 *   writeFileSync(agent.view(`${mnt}/copy`), changedCopy(TRUE, 'x'), { mode: 0o755 });
 *   refused(await agent.run(`${mnt}/copy`));
 *   // afterAll: await agent.kill(); await noGuardLeft();
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { execGuardBinary } from '../packages/agent/src/platform/linux/exec-guard-binary.js';
import { cordon, CORDON, CordonProcess, until } from './helpers.js';

/** Generous: a CI run may be loading the machine. */
export const NS_WAIT = 60_000;
/** A package-owned program: it runs while restricted, and one byte more makes an untrusted copy of it. */
export const TRUE = '/usr/bin/true';
/** Quick reconnects and a 1 s watchdog (which also sends a changed restriction report). */
const AGENT_ENV = { CORDON_AGENT_RECONNECT_MAX_SECONDS: '1', CORDON_AGENT_ISOLATION_WATCH_SECONDS: '1', CORDON_AGENT_LOG_LEVEL: 'info' };
const HOST_NS = readlinkSync('/proc/self/ns/mnt');

const has = (cmd: string) => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;

/** Why a real restriction cannot be tested here, or '' when it can. */
export function restrictionSkip(): string {
  if (process.getuid?.() !== 0) return 'needs root (fanotify permission events, mount namespaces)';
  if (!execGuardBinary().exists) return 'packages/agent/native/build/ has no cordon-exec-guard (run node scripts/build.mjs; needs cc and libssl-dev)';
  if (!has('unshare') || !has('nsenter')) return 'needs unshare and nsenter (util-linux)';
  if (!existsSync('/var/lib/dpkg/info/coreutils.md5sums')) return 'needs dpkg (the trust list is made from its md5sums)';
  return '';
}

/** The bytes of `program` with `tail` appended: a copy no package vouches for. */
export function changedCopy(program: string, tail: string): Buffer {
  return Buffer.concat([readFileSync(program), Buffer.from(tail)]);
}

/** `cordon agent enroll` into `dataDir`; answers the machine id. */
export async function enrollAgent(agentUrl: string, enrollmentToken: string, dataDir: string): Promise<string> {
  const r = await cordon(['agent', 'enroll', '--server', agentUrl, '--token', enrollmentToken, '--data-dir', dataDir]);
  if (r.code !== 0) throw new Error(`cordon agent enroll exited with ${r.code}: ${r.stderr}`);
  return (JSON.parse(readFileSync(join(dataDir, 'enrollment.json'), 'utf8')) as { machineId: string }).machineId;
}

export interface RunResult {
  code: number | null;
  stderr: string;
}

/** Runs a program to its end with no input (a program refused at exec has no stdin to write to). */
export function runProgram(cmd: string, args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/** nsenter could not exec the program: the kernel (the guard) refused it. */
export const refused = (r: RunResult) => r.code !== 0 && /Operation not permitted/.test(r.stderr);

/**
 * The running processes whose program is the exec guard (its comm is cut to 15 characters); not
 * the agent's `--check` of the capability, which is the same program for a moment.
 */
function guardPids(): number[] {
  const comm = 'cordon-exec-guard'.slice(0, 15);
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return readFileSync(`/proc/${d}/comm`, 'utf8').trim() === comm && !readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0').includes('--check');
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** Every guard this file's agents ran (other test runs may have guards of their own meanwhile). */
const ours = new Set<number>();

/** Which of `pids` are guards still running. */
export const alive = (pids: Iterable<number>) => [...pids].filter((p) => guardPids().includes(p));

/** The agent's children that are its exec guard (recorded as ours). */
export function guardsOf(agentPid: number): number[] {
  const found = guardPids().filter((pid) => {
    try {
      return / \S+ (\d+) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\)/, ''))?.[1] === String(agentPid);
    } catch {
      return false;
    }
  });
  for (const pid of found) ours.add(pid);
  return found;
}

/**
 * After the agents are killed: the guards exit with their agent (their stdin closes), and none of
 * ours may be left. One that is still there after `timeoutMs` is killed, and the test fails.
 */
export async function noGuardLeft(timeoutMs = 15_000): Promise<void> {
  await until('no exec guard of ours left', async () => alive(ours).length === 0, timeoutMs).catch((e: Error) => {
    for (const pid of alive(ours)) process.kill(pid, 'SIGKILL');
    throw e;
  });
}

/** A `cordon agent run` in a private mount namespace of its own, where a tmpfs can be mounted. */
export class NamespacedAgent {
  readonly proc: CordonProcess;

  /** `env` adds to (or overrides) quick reconnects, a 1 s watchdog and log level info. */
  constructor(dataDir: string, env: Record<string, string> = {}) {
    // unshare execs node in the new namespace: the child's pid is the agent's.
    this.proc = new CordonProcess(['agent', 'run', '--data-dir', dataDir], { ...AGENT_ENV, ...env }, ['unshare', ['-m', '--propagation', 'private', '--', process.execPath, CORDON]]);
  }

  get pid(): number {
    return this.proc.child.pid!;
  }

  /** Waits until the agent runs in a namespace that is not the host's (unshare switched, then became node). */
  async inOwnNamespace(): Promise<void> {
    await until('the agent in its own mount namespace', async () => readlinkSync(`/proc/${this.pid}/ns/mnt`) !== HOST_NS && readFileSync(`/proc/${this.pid}/comm`, 'utf8').trim() !== 'unshare', NS_WAIT);
  }

  /** nsenter's arguments that run `cmd args` in the agent's namespace (never the host's: checked each time). */
  #nsenter(cmd: string, args: string[]): string[] {
    if (readlinkSync(`/proc/${this.pid}/ns/mnt`) === HOST_NS) throw new Error('the agent is in the host mount namespace');
    return [`--mount=/proc/${this.pid}/ns/mnt`, '--', cmd, ...args];
  }

  run(cmd: string, args: string[] = []): Promise<RunResult> {
    return runProgram('nsenter', this.#nsenter(cmd, args));
  }

  /** Mounts a fresh tmpfs at `dir` inside the namespace only. */
  async mountTmpfs(dir: string): Promise<void> {
    const r = await this.run('mount', ['-t', 'tmpfs', '-o', 'size=20m,mode=0755', 'cordon-restriction-e2e', dir]);
    if (r.code !== 0) throw new Error(`mount in the agent's namespace: exit ${r.code}: ${r.stderr.trim()}`);
  }

  /** A path as the namespace sees it, for writing files there from the test. */
  view(path: string): string {
    return `/proc/${this.pid}/root${path}`;
  }

  /** SIGKILL; its guards are recorded first (once the agent is gone they are no longer its children). */
  async kill(): Promise<void> {
    if (this.proc.child.exitCode === null && this.proc.child.signalCode === null) guardsOf(this.pid);
    await this.proc.kill('SIGKILL');
  }
}
