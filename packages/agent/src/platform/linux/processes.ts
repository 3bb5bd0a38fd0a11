import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import type { Processes } from '../types.js';
import { run } from './exec.js';

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

export const linuxProcesses: Processes = { run, stream: streamProgram };
