import { parseArgs } from '../args.js';
import { CommandError, usageError } from '../errors.js';
import { durationText, isoTime, printable, table } from '../format.js';
import type { CommandContext, LiveCommand } from '../types.js';

/** A job id as typed: a positive whole number (`%3` too, as a shell writes it). */
function jobId(cmd: LiveCommand, args: string[]): number {
  const { operands } = parseArgs(cmd, args, { maxOperands: 1 });
  const m = /^%?([1-9]\d{0,8})$/.exec(operands[0] ?? '');
  if (!m) throw usageError(cmd, operands[0] === undefined ? undefined : `${printable(operands[0])} is not a job id (jobs lists them)`);
  return Number(m[1]);
}

/** Why a job is not running: it ended (and how), it is this very line, or there is no such job. */
function notRunning(ctx: CommandContext, id: number): CommandError {
  if (id === ctx.jobs.self) return new CommandError(`job ${id} is this command`);
  const ended = ctx.jobs.ended(id);
  if (ended) return new CommandError(`job ${id} (${printable(ended.line)}) has ended, with exit status ${ended.exitStatus}`);
  return new CommandError(`no job ${id} (jobs lists the running ones)`);
}

/** `jobs`: the session's other command lines running now. */
export const jobs: LiveCommand = {
  name: 'jobs',
  summary: 'List the commands running in this session: id, time running, command line',
  usage: 'jobs',
  level: 'basic',
  async run(args, ctx) {
    parseArgs(this, args, { maxOperands: 0 });
    const now = Date.now();
    const list = ctx.jobs.list().map((j) => ({ id: j.id, line: j.line, command: j.command, startedAt: isoTime(j.startedAt), elapsedMs: now - j.startedAt.getTime() }));
    ctx.write(table(['ID', 'ELAPSED', 'LINE'], list.map((j) => [String(j.id), durationText(Math.floor(j.elapsedMs / 100) * 100), printable(j.line)]), 'No other commands are running.'));
    return { data: list };
  },
};

/**
 * `fg <id>`: follows a running command: its output from now on, then how it ended (its exit status
 * is fg's). Ctrl-C stops following; the command runs on (`cancel` stops it).
 */
export const fg: LiveCommand = {
  name: 'fg',
  summary: 'Follow a running command: its output from now on and its exit status (Ctrl-C stops following, not the command)',
  usage: 'fg <id>',
  level: 'basic',
  async run(args, ctx) {
    const id = jobId(this, args);
    const done = ctx.jobs.follow(id, (chunk) => ctx.write(chunk), ctx.signal);
    if (!done) throw notRunning(ctx, id);
    const r = await done;
    ctx.write(`[job ${id} ended with exit status ${r.exitStatus}]\n`);
    return { exitStatus: r.exitStatus, data: { id, exitStatus: r.exitStatus, truncated: r.truncated ?? false } };
  },
};

/** `cancel <id>`: stops a running command as Ctrl-C would (it ends with exit status 130). */
export const cancel: LiveCommand = {
  name: 'cancel',
  summary: 'Stop a running command, as Ctrl-C does (it ends with exit status 130)',
  usage: 'cancel <id>',
  level: 'basic',
  async run(args, ctx) {
    const id = jobId(this, args);
    const line = ctx.jobs.list().find((j) => j.id === id)?.line;
    const done = ctx.jobs.follow(id, () => undefined, ctx.signal);
    if (!done || line === undefined || !ctx.jobs.cancel(id)) throw notRunning(ctx, id);
    const r = await done;
    ctx.write(`job ${id} (${printable(line)}) stopped: exit status ${r.exitStatus}\n`);
    return { data: { id, line, exitStatus: r.exitStatus } };
  },
};
