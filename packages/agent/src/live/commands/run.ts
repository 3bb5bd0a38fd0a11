import { mkdtemp, open, realpath, rm } from 'node:fs/promises';
import { constants as os, tmpdir } from 'node:os';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { CommandError, usageError } from '../errors.js';
import { printable } from '../format.js';
import type { LiveCommand } from '../types.js';
import { copyVerified, O_READ, openDirectory, realDirectory } from '../write.js';
import { libraryFile } from './putfile.js';

/** What a script runs with: a plain PATH and the agent's HOME and language, nothing else of the agent's environment. */
function scriptEnv(): NodeJS.ProcessEnv {
  return {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: process.env.HOME ?? '/root',
    LANG: process.env.LANG ?? 'C.UTF-8',
    CORDON_LIVE_RESPONSE: '1',
  };
}

/** Whether a file starts with #! (the kernel then runs the interpreter it names). */
async function hasShebang(path: string): Promise<boolean> {
  const fh = await open(path, O_READ);
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf.toString('latin1') === '#!';
  } finally {
    await fh.close();
  }
}

/** Most characters of a script's stderr its structured result holds (the output has all the budget kept). */
export const STDERR_DATA_MAX = 64 * 1024;

/** A program that was busy being written by another thread's fork (ETXTBSY) is tried again this many times. */
const BUSY_RETRIES = 5;

/**
 * `run <name> [args...]`: runs a library script on the device. The script is fetched, checked
 * against the SHA-256 the server named, copied into a private directory (0700) as an executable
 * (0700) and run there directly (its #! line picks the interpreter; without one, /bin/sh reads it),
 * with the arguments as they were split from the line: never given to a shell, so spaces, quotes
 * and ;|&$() are plain characters. It runs in the working directory, its stdout and stderr are
 * shown as they come (one output, in order), its stderr is also kept apart (the result's `stderr`,
 * a batch's script_errors), and its exit status is the command's (128+n when signal n ended it).
 * Ctrl-C and the time-out stop it and everything it started (its process group).
 */
export const run: LiveCommand = {
  name: 'run',
  summary: "Run a library script with arguments (taken literally), in the working directory, its output streamed",
  usage: 'run <name> [args...]',
  level: 'advanced',
  async run(args, ctx) {
    // Everything after the name is the script's, options included; `--` may come before the name.
    const [name, ...scriptArgs] = args[0] === '--' ? args.slice(1) : args;
    if (name === undefined) throw usageError(this);
    if (name.startsWith('-')) throw usageError(this, `unknown option ${printable(name)}`);
    const { ref, path: src } = await libraryFile(ctx, name);
    const cwd = await realDirectory(ctx, ctx.session.cwd);

    // The agent's own directory (mkdtemp makes it 0700), with the links in its path resolved: it is walked without following any.
    const stage = await realpath(await mkdtemp(join(ctx.session.settings.dataDir ?? tmpdir(), 'cordon-run-')));
    try {
      const dir = await openDirectory(stage);
      try {
        await copyVerified(src, dir, name, { mode: 0o700, sha256: ref.sha256, signal: ctx.signal, label: printable(name) });
      } finally {
        await dir.close();
      }
      const script = join(stage, name);
      const [file, argv] = (await hasShebang(script)) ? [script, scriptArgs] : ['/bin/sh', [script, ...scriptArgs]];
      ctx.trace(`run ${[file, ...argv].map((a) => JSON.stringify(a)).join(' ')} in ${cwd}`);
      const decoders = { out: new StringDecoder('utf8'), err: new StringDecoder('utf8') };
      const opts = {
        cwd,
        env: scriptEnv(),
        signal: ctx.signal,
        onStdout: (c: Buffer) => ctx.write(decoders.out.write(c)),
        onStderr: (c: Buffer) => ctx.write(decoders.err.write(c), 'stderr'),
        onStart: (pid: number) => ctx.trace(`${name} runs as pid ${pid}`),
      };
      let end: Awaited<ReturnType<typeof ctx.platform.processes.runStreamed>> | undefined;
      for (let attempt = 0; !end; attempt++) {
        try {
          end = await ctx.platform.processes.runStreamed(file, argv, opts);
        } catch (e) {
          ctx.signal.throwIfAborted();
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ETXTBSY' && attempt < BUSY_RETRIES) {
            await new Promise((r) => setTimeout(r, 50));
            continue;
          }
          if (code === 'EACCES') throw new CommandError(`${printable(name)} could not be run: permission denied (is ${printable(stage)} on a file system mounted noexec?)`);
          if (code === 'ENOENT') throw new CommandError(`${printable(name)} could not be run: its #! line names an interpreter this device does not have`);
          throw new CommandError(`${printable(name)} could not be run: ${(e as Error).message}`);
        }
      }
      ctx.write(decoders.out.end());
      ctx.write(decoders.err.end(), 'stderr');
      const exitStatus = end.code ?? 128 + (end.signal ? (os.signals[end.signal] ?? 0) : 0);
      // stderr apart for the API (MDE's script_errors), as the output kept it; cut so the line's result stays small.
      const stderr = ctx.stderrKept();
      const kept = stderr.length > STDERR_DATA_MAX ? stderr.slice(0, STDERR_DATA_MAX) : stderr;
      const data = { fileName: name, version: ref.version, sha256: ref.sha256, exitStatus, signal: end.signal, stderr: kept, ...(kept.length < stderr.length ? { stderrTruncated: true } : {}) };
      return { exitStatus, data, ...(end.signal ? { error: `${printable(name)} was ended by ${end.signal}` } : {}) };
    } finally {
      await rm(stage, { recursive: true, force: true });
    }
  },
};
