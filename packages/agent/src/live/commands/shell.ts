import { access, constants, readdir, readFile, stat } from 'node:fs/promises';
import { userInfo } from 'node:os';
import type { IPty } from 'node-pty';
import { parseArgs } from '../args.js';
import { CommandError } from '../errors.js';
import { durationText } from '../format.js';
import type { CommandContext, LiveCommand } from '../types.js';

/** The terminal type the shell is told (what xterm.js and most terminals understand). */
const TERM = 'xterm-256color';
/** A shell's process group is hung up, then killed if it is still there this much later. */
const KILL_GRACE_MS = 2000;
const DEFAULT_SIZE = { cols: 80, rows: 24 };
/** After the shell exits, its last output is waited for this long. */
const EXIT_DRAIN_MS = 50;

/**
 * The shell to start: CORDON_LIVE_SHELL when the agent's environment sets it (the tests use /bin/sh,
 * whose start does not hang on the host's rc files), else the agent user's login shell, else bash,
 * else sh (the first that can be run).
 */
export async function pickShell(candidates: (string | null | undefined)[] = [process.env.CORDON_LIVE_SHELL, loginShell(), '/bin/bash', '/bin/sh']): Promise<string> {
  for (const file of candidates) {
    if (!file || !file.startsWith('/')) continue;
    try {
      await access(file, constants.X_OK);
      return file;
    } catch {
      // not there, or not runnable: the next one
    }
  }
  throw new CommandError('no shell found on this device (tried the login shell, /bin/bash and /bin/sh)');
}

function loginShell(): string | null {
  try {
    return userInfo().shell;
  } catch {
    return null;
  }
}

/**
 * The shell's environment: set afresh, not the agent's own (which may hold the agent's settings);
 * what a login gives, and the terminal type.
 */
function shellEnv(shell: string): Record<string, string> {
  const me = userInfo();
  return {
    PATH: process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: me.homedir,
    USER: me.username,
    LOGNAME: me.username,
    SHELL: shell,
    LANG: process.env.LANG || 'C.UTF-8',
    TERM,
  };
}

/** The session's working directory if it is still one, else `/`. */
async function startDir(cwd: string): Promise<string> {
  try {
    return (await stat(cwd)).isDirectory() ? cwd : '/';
  } catch {
    return '/';
  }
}

/**
 * The process groups of the terminal's session (the shell leads it: node-pty starts it with
 * setsid). A shell with job control puts each job in a group of its own, so the shell's group
 * alone is not all it started. Read from /proc on Linux; elsewhere, the shell's group only.
 */
async function sessionGroups(sid: number): Promise<Set<number>> {
  const groups = new Set([sid]);
  if (process.platform !== 'linux') return groups;
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    // After "pid (comm) ": state ppid pgrp session... (comm may hold spaces and parentheses).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(fields[3]) === sid) groups.add(Number(fields[2]));
  }
  return groups;
}

async function signalSession(sid: number, sig: NodeJS.Signals): Promise<void> {
  for (const group of await sessionGroups(sid)) {
    try {
      process.kill(-group, sig);
    } catch {
      // the group is gone already
    }
  }
}

/** Hangs up everything the terminal runs, then kills what is left once the shell is gone (or after a grace). */
function hangUp(pty: IPty, exited: Promise<unknown>): void {
  const kill = () => void signalSession(pty.pid, 'SIGKILL');
  void signalSession(pty.pid, 'SIGHUP');
  const timer = setTimeout(kill, KILL_GRACE_MS);
  timer.unref();
  void exited.then(() => {
    clearTimeout(timer);
    // Jobs the shell left behind go too.
    kill();
  });
}

/**
 * `shell`: a full interactive terminal on the device (node-pty), for an advanced session on a
 * device whose group allows it. Every keystroke reaches it as a signed input chunk, and is kept in
 * the transcript with all the shell shows. It ends when the shell exits (its exit status), on
 * Ctrl-C of the line (cancel: its process group is hung up), at the session's end, or with no
 * keystroke for the session's idle time-out.
 */
export const shell: LiveCommand = {
  name: 'shell',
  summary: "Open an interactive shell on the device (if the device's group allows it)",
  usage: 'shell',
  level: 'advanced',
  interactive: true,
  async run(args, ctx) {
    parseArgs(this, args, { maxOperands: 0 });
    if (!ctx.session.settings.shell) throw new CommandError("not enabled for this device's group (an admin allows it per device group)", 126);
    const terminal = ctx.terminal;
    if (!terminal) throw new CommandError('needs a terminal: type it in the console or `cordon live`', 2);
    const file = await pickShell();
    const cwd = await startDir(ctx.session.cwd);
    ctx.signal.throwIfAborted();
    const { spawn } = await import('node-pty');
    const size = { cols: terminal.cols || DEFAULT_SIZE.cols, rows: terminal.rows || DEFAULT_SIZE.rows };
    ctx.trace(`starting ${file} in ${cwd} (${size.cols}x${size.rows})`);
    const pty = spawn(file, [], { name: TERM, cols: size.cols, rows: size.rows, cwd, env: shellEnv(file) });
    return runPty(pty, ctx, terminal.idleMs);
  },
};

/** Relays the pty both ways until the shell exits or is stopped. */
function runPty(pty: IPty, ctx: CommandContext, idleMs: number): Promise<{ exitStatus: number; error?: string }> {
  return new Promise((resolve, reject) => {
    let over = false;
    let settle: ((fn: () => void) => void) | null = (fn) => {
      settle = null;
      clearTimeout(idle);
      ctx.signal.removeEventListener('abort', onAbort);
      fn();
    };
    let markExited!: () => void;
    const exited = new Promise<void>((r) => (markExited = r));
    const stop = (error: CommandError) => {
      hangUp(pty, exited);
      settle?.(() => reject(error));
    };
    const onAbort = () => hangUp(pty, exited);
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => stop(new CommandError(`no keystroke for ${durationText(idleMs)}: the shell was ended (the session's idle time-out)`, 124)), idleMs);
    };
    let idle: NodeJS.Timeout | undefined;
    armIdle();
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    pty.onData((data) => {
      if (over || ctx.writeTerminal(data)) return;
      over = true;
      stop(new CommandError("its output went over the session's budget for a shell: the shell was ended so that nothing it shows goes unrecorded"));
    });
    pty.onExit(({ exitCode, signal }) => {
      markExited();
      // A shell killed by a signal answers as a shell would: 128 + the signal's number.
      const exitStatus = Math.min(255, Math.max(0, signal ? 128 + signal : exitCode));
      // The last output may come a moment after the exit: it is waited for, briefly.
      setTimeout(() => settle?.(() => resolve({ exitStatus })), EXIT_DRAIN_MS);
    });
    ctx.terminal!.attach((input) => {
      if (!settle) return;
      if (input.cols && input.rows) pty.resize(input.cols, input.rows);
      if (input.data) {
        armIdle();
        pty.write(input.data);
      }
    });
  });
}
