import { execFile } from 'node:child_process';
import type { ExecResult } from '../types.js';

/**
 * Runs a program with an argument array (never a shell) and a time budget. A missing program
 * answers code 127 like a shell would, so callers can say "install X" instead of crashing.
 */
export function run(file: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs ?? 15_000, maxBuffer: 16 * 1024 * 1024, env: opts.env ?? process.env }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: unknown; killed?: boolean };
      if (e.code === 'ENOENT') return resolve({ code: 127, stdout: '', stderr: `${file}: not found` });
      if (e.killed) return resolve({ code: 124, stdout, stderr: `${stderr}${file} did not finish within ${(opts.timeoutMs ?? 15_000) / 1000} s` });
      resolve({ code: typeof e.code === 'number' ? e.code : 1, stdout, stderr: stderr || e.message });
    });
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The first line of a program's complaint, for error messages a person reads. */
export function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find(Boolean)?.slice(0, 300) ?? '';
}
