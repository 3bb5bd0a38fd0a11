import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, open, readdir, readFile, readlink, stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { run } from '../../platform/linux/exec.js';
import type { CollectContext } from './types.js';

function absolute(path: string): string {
  // Collectors name the files they read; a relative path would depend on the agent's cwd.
  if (!isAbsolute(path)) throw new Error(`collectors read absolute paths only, not '${path}'`);
  return path;
}

function missing(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

async function orNull<T>(p: Promise<T>): Promise<T | null> {
  try {
    return await p;
  } catch (e) {
    if (missing(e)) return null;
    throw e;
  }
}

/** The real context for one collector: its deadline bounds every program it runs. */
export function linuxCollectContext(opts: { dataDir: string; deadline: number; signal: AbortSignal; now?: () => Date }): CollectContext {
  const remaining = () => Math.max(1, opts.deadline - Date.now());
  return {
    signal: opts.signal,
    dataDir: opts.dataDir,
    now: opts.now ?? (() => new Date()),
    run: (file, args, o = {}) => run(file, args, { timeoutMs: Math.min(o.timeoutMs ?? remaining(), remaining()) }),
    stream(file, args) {
      const out = new PassThrough();
      let ended = false;
      const finish = (tail?: string) => {
        if (ended) return;
        ended = true;
        out.end(tail);
      };
      const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'ignore'], signal: opts.signal, killSignal: 'SIGKILL' });
      child.on('error', (err) => {
        // A missing program is data ("not present"), not a failure of the collector.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') finish(`${file}: not present on this device\n`);
        else if (err.name === 'AbortError') finish();
        else if (!ended) out.destroy(err);
      });
      child.on('close', () => finish());
      child.stdout?.pipe(out, { end: false });
      return out;
    },
    readFile: (path) => orNull(readFile(absolute(path))),
    readText: (path) => orNull(readFile(absolute(path), 'utf8')),
    readRange: (path, offset, length) =>
      orNull(
        (async () => {
          const fh = await open(absolute(path), 'r');
          try {
            const buf = Buffer.alloc(length);
            const { bytesRead } = await fh.read(buf, 0, length, offset);
            return buf.subarray(0, bytesRead);
          } finally {
            await fh.close();
          }
        })(),
      ),
    openFile: (path) => createReadStream(absolute(path)),
    readDir: (path) => orNull(readdir(absolute(path))),
    lstat: (path) => orNull(lstat(absolute(path))),
    stat: (path) => orNull(stat(absolute(path))),
    readlink: async (path) => {
      try {
        return await readlink(absolute(path));
      } catch {
        return null;
      }
    },
    sha256: async (path) => {
      const hash = createHash('sha256');
      await pipeline(createReadStream(absolute(path)), hash);
      return hash.digest('hex');
    },
  };
}

/** Drains a stream into a string (for tests and small outputs). */
export async function streamToString(s: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8');
}
