import { execFile, type ChildProcess } from 'node:child_process';
import type { ExecResult } from '../types.js';

/** How long a program stopped with SIGTERM has to end before it gets SIGKILL. */
export const KILL_GRACE_MS = 2_000;

const gone = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;

/** kill(2) on a pid or (negative) a process group; false when there is no such process (any more). */
function signalPid(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/**
 * Stops a child: SIGTERM, then SIGKILL after {@link KILL_GRACE_MS} if it has not ended. With
 * `group` (a child started as the leader of its own process group, `detached`), the whole group
 * gets both, so what the program started goes too, even once the program itself has ended.
 */
export function stopChild(child: ChildProcess, opts: { group?: boolean } = {}): void {
  const pid = child.pid;
  if (pid === undefined) return;
  const target = opts.group ? -pid : pid;
  if (gone(child) && !opts.group) return;
  signalPid(target, 'SIGTERM');
  const timer = setTimeout(() => {
    // A group outlives its leader while any member lives; a lone child that ended is left alone (its pid may be reused).
    if (opts.group || !gone(child)) signalPid(target, 'SIGKILL');
  }, KILL_GRACE_MS);
  // Nothing left to kill: the timer need not wait (for a group, only once no member is left).
  const done = () => {
    if (!opts.group || !signalPid(target, 0)) clearTimeout(timer);
  };
  if (gone(child)) done();
  else child.once('exit', done);
}

/**
 * Runs a program with an argument array (never a shell) and a time budget. A missing program
 * answers code 127 like a shell would, so callers can say "install X" instead of crashing. The
 * time-out (124) and `signal` (aborted: 130) stop the program with {@link stopChild}.
 */
export function run(file: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string; signal?: AbortSignal } = {}): Promise<ExecResult> {
  const timeoutMs = opts.timeoutMs ?? 15_000;
  return new Promise((resolve) => {
    if (opts.signal?.aborted) return resolve({ code: 130, stdout: '', stderr: `${file} was not started: cancelled` });
    let stopped: 'timeout' | 'abort' | null = null;
    const stop = (why: 'timeout' | 'abort') => {
      if (stopped) return;
      stopped = why;
      stopChild(child);
    };
    const onAbort = () => stop('abort');
    const child = execFile(file, args, { maxBuffer: 16 * 1024 * 1024, env: opts.env ?? process.env }, (err, stdout, stderr) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (stopped === 'abort') return resolve({ code: 130, stdout, stderr: `${stderr}${file} was stopped: cancelled` });
      if (stopped === 'timeout') return resolve({ code: 124, stdout, stderr: `${stderr}${file} did not finish within ${timeoutMs / 1000} s` });
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: unknown };
      if (e.code === 'ENOENT') return resolve({ code: 127, stdout: '', stderr: `${file}: not found` });
      resolve({ code: typeof e.code === 'number' ? e.code : 1, stdout, stderr: stderr || e.message });
    });
    const timer = setTimeout(() => stop('timeout'), timeoutMs);
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The first line of a program's complaint, for error messages a person reads. */
export function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find(Boolean)?.slice(0, 300) ?? '';
}
