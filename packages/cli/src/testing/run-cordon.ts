import { Readable } from 'node:stream';
import { vi } from 'vitest';
import { buildProgram } from '../main.js';

/**
 * For the CLI's tests: runs `cordon <args>` in this process and answers what it printed on
 * stdout; stderr is kept quiet with `quiet`; `stdin` is what it reads, as from a pipe. A failure
 * throws, as `main` would report it.
 */
export async function runCordon(args: string[], opts: { quiet?: boolean; stdin?: string } = {}): Promise<string> {
  let out = '';
  const stdin = opts.stdin === undefined ? null : vi.spyOn(process, 'stdin', 'get').mockReturnValue(Readable.from([opts.stdin]) as unknown as typeof process.stdin);
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  const stderr = opts.quiet ? vi.spyOn(process.stderr, 'write').mockImplementation(() => true) : null;
  try {
    await buildProgram().parseAsync(['node', 'cordon', ...args]);
    return out;
  } finally {
    stdout.mockRestore();
    stderr?.mockRestore();
    stdin?.mockRestore();
  }
}
