import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import type { Processes, StreamedExit, StreamedRunOptions } from '../types.js';
import { run, stopChild } from './exec.js';

/** How long output is still read after a program ended while something it started holds its stdout or stderr. */
const DRAIN_AFTER_EXIT_MS = 1_000;

/**
 * Streams a program's stdout (argument array, never a shell), killed with SIGKILL when `signal`
 * aborts. A missing program ends the stream with one line saying so: to a collector that is data
 * ("not present"), not a failure. stderr is dropped: it would interleave with the data.
 */
export function streamProgram(file: string, args: string[], signal: AbortSignal): Readable {
  const out = new PassThrough();
  let ended = false;
  const finish = (tail?: string) => {
    if (ended) return;
    ended = true;
    out.end(tail);
  };
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'ignore'], signal, killSignal: 'SIGKILL' });
  child.on('error', (err) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') finish(`${file}: not present on this device\n`);
    else if (err.name === 'AbortError') finish();
    else if (!ended) out.destroy(err);
  });
  child.on('close', () => finish());
  child.stdout?.pipe(out, { end: false });
  return out;
}

/**
 * Runs a program (argument array, never a shell) as a process group leader (`detached`), so that
 * on abort the group, and with it whatever the program started, is stopped (SIGTERM, then SIGKILL).
 * Its end is answered once its output is read to the end, or {@link DRAIN_AFTER_EXIT_MS} after it
 * exited when something it left running still holds the pipes.
 */
export function runStreamed(file: string, args: string[], opts: StreamedRunOptions): Promise<StreamedExit> {
  return new Promise((resolve, reject) => {
    if (opts.signal.aborted) return reject(opts.signal.reason);
    const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const onAbort = () => stopChild(child, { group: true });
    let exit: StreamedExit | null = null;
    let drain: NodeJS.Timeout | undefined;
    const finish = () => {
      clearTimeout(drain);
      opts.signal.removeEventListener('abort', onAbort);
      child.stdout.destroy();
      child.stderr.destroy();
      resolve(exit!);
    };
    child.once('error', (err) => {
      // Only a failure to start comes here before the program ran; later ones (a failed kill) change nothing.
      if (child.pid === undefined) {
        opts.signal.removeEventListener('abort', onAbort);
        reject(err);
      }
    });
    // Registered at once: an abort before the 'spawn' event still stops the program (its pid is known already).
    opts.signal.addEventListener('abort', onAbort, { once: true });
    child.once('spawn', () => opts.onStart?.(child.pid!));
    child.stdout.on('data', (c: Buffer) => opts.onStdout(c));
    child.stderr.on('data', (c: Buffer) => opts.onStderr(c));
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      drain = setTimeout(finish, DRAIN_AFTER_EXIT_MS);
    });
    child.once('close', () => {
      if (exit) finish();
    });
  });
}

export const linuxProcesses: Processes = { run, stream: streamProgram, runStreamed };
