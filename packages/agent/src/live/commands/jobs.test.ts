import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LiveShell } from '../session.js';
import type { LiveCommand } from '../types.js';
import { liveCommands } from './index.js';

// Commands made for these tests: what jobs, fg and cancel do does not depend on what a job does.
/** Writes `start`, then a line every 30 ms until released, then `end`; ends with the exit status given. */
let release: () => void = () => undefined;
const slow: LiveCommand = {
  name: 'slow',
  summary: 'Write lines until released',
  usage: 'slow <status>',
  level: 'basic',
  async run(args, ctx) {
    ctx.write('start\n');
    let n = 0;
    const timer = setInterval(() => ctx.write(`tick ${++n}\n`), 30);
    await new Promise<void>((resolve) => {
      release = resolve;
      ctx.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    clearInterval(timer);
    ctx.write('end\n');
    return { exitStatus: Number(args[0] ?? 0) };
  },
};
/** Runs `sleep <arg>` through ctx.run (the way commands run programs) and answers its exit code. */
const sleeper: LiveCommand = {
  name: 'sleeper',
  summary: 'Run sleep',
  usage: 'sleeper <seconds>',
  level: 'basic',
  async run(args, ctx) {
    const r = await ctx.run('sleep', [args[0]!]);
    return { exitStatus: r.code };
  },
};
const commands = [...liveCommands, slow, sleeper];
const shell = () => new LiveShell({ level: 'basic', commands });
const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
/** The pids whose command line holds `marker` (a unique argument). */
function pidsWith(marker: string): number[] {
  return readdirSync('/proc')
    .filter((n) => /^\d+$/.test(n))
    .filter((n) => {
      try {
        return readFileSync(`/proc/${n}/cmdline`).toString().split('\0').includes(marker);
      } catch {
        return false;
      }
    })
    .map(Number);
}
async function until(what: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await tick(20)) if (what()) return true;
  return what();
}
const sleepFor = () => `30.${process.pid}${Math.floor(Math.random() * 1e6)}`;

describe('jobs', () => {
  it('lists the other lines running now (id, time running, line), never itself', async () => {
    const sh = shell();
    expect(await sh.run('jobs')).toEqual({ exitStatus: 0, output: 'No other commands are running.\n', data: [] });
    const a = sh.run('slow 0');
    const b = sh.run(`sleeper ${sleepFor()}`);
    await tick(120);
    const r = await sh.run('jobs');
    expect(r.exitStatus).toBe(0);
    expect(r.output).toMatch(/^ID +ELAPSED +LINE\n2 +\d+ ms +slow 0\n3 +\d+ ms +sleeper 30\.\d+\n$/);
    expect(r.data).toEqual([
      { id: 2, line: 'slow 0', command: 'slow', startedAt: expect.any(String), elapsedMs: expect.any(Number) },
      { id: 3, line: expect.stringMatching(/^sleeper /), command: 'sleeper', startedAt: expect.any(String), elapsedMs: expect.any(Number) },
    ]);
    expect((r.data as { elapsedMs: number }[])[0]!.elapsedMs).toBeGreaterThanOrEqual(100);
    expect(await sh.run('jobs x')).toEqual({ exitStatus: 2, output: 'jobs: too many arguments; usage: jobs\n' });
    sh.close();
    await Promise.all([a, b]);
  });
});

describe('fg', () => {
  it('shows a running line’s output from then on and ends with its exit status', async () => {
    const sh = shell();
    const job = sh.run('slow 3');
    await tick(100);
    const chunks: string[] = [];
    const following = sh.run('fg 1', { onOutput: (c) => chunks.push(c) });
    await tick(100);
    // Streamed as it comes: ticks arrive while fg runs.
    expect(chunks.join('')).toMatch(/^(tick \d+\n)+$/);
    release();
    const r = await following;
    expect(r.exitStatus).toBe(3);
    expect(r.output).toMatch(/^(tick \d+\n)+end\n\[job 1 ended with exit status 3\]\n$/);
    // From then on: the start line came before fg did.
    expect(r.output).not.toContain('start');
    expect(r.data).toEqual({ id: 1, exitStatus: 3, truncated: false });
    expect((await job).exitStatus).toBe(3);
  });

  it('says a line ended (and how), or that there is no such job; bad ids are usage errors', async () => {
    const sh = shell();
    expect(await sh.run('fg 1')).toEqual({ exitStatus: 1, output: 'fg: job 1 is this command\n' });
    const job = sh.run('slow 4');
    await tick(20);
    release();
    await job;
    expect(await sh.run('fg 2')).toEqual({ exitStatus: 1, output: 'fg: job 2 (slow 4) has ended, with exit status 4\n' });
    expect(await sh.run('fg %2')).toEqual({ exitStatus: 1, output: 'fg: job 2 (slow 4) has ended, with exit status 4\n' });
    expect(await sh.run('fg 99')).toEqual({ exitStatus: 1, output: 'fg: no job 99 (jobs lists the running ones)\n' });
    expect(await sh.run('fg')).toEqual({ exitStatus: 2, output: 'fg: usage: fg <id>\n' });
    expect(await sh.run("fg '1;ls'")).toEqual({ exitStatus: 2, output: 'fg: 1;ls is not a job id (jobs lists them); usage: fg <id>\n' });
    expect(await sh.run('fg 1 2')).toEqual({ exitStatus: 2, output: 'fg: too many arguments; usage: fg <id>\n' });
  });

  it('Ctrl-C stops following; the line runs on', async () => {
    const sh = shell();
    const job = sh.run('slow 0');
    const ac = new AbortController();
    const following = sh.run('fg 1', { signal: ac.signal });
    await tick(80);
    ac.abort();
    expect((await following).exitStatus).toBe(130);
    expect(sh.jobs().map((j) => j.id)).toEqual([1]);
    release();
    expect((await job).exitStatus).toBe(0);
  });
});

describe('cancel', () => {
  it('stops a running line as Ctrl-C does: it ends with 130, and cancel says so', async () => {
    const sh = shell();
    const job = sh.run('slow 0');
    await tick(50);
    const r = await sh.run('cancel 1');
    expect(r).toEqual({ exitStatus: 0, output: 'job 1 (slow 0) stopped: exit status 130\n', data: { id: 1, line: 'slow 0', exitStatus: 130 } });
    expect(await job).toMatchObject({ exitStatus: 130, output: expect.stringMatching(/^start\n(tick \d+\n)*(end\n)?slow: cancelled\n$/) });
    expect(await sh.run('cancel 1')).toEqual({ exitStatus: 1, output: 'cancel: job 1 (slow 0) has ended, with exit status 130\n' });
    expect(await sh.run('cancel 4')).toEqual({ exitStatus: 1, output: 'cancel: job 4 is this command\n' });
    expect(await sh.run('cancel')).toEqual({ exitStatus: 2, output: 'cancel: usage: cancel <id>\n' });
    expect(await sh.run('cancel -1')).toEqual({ exitStatus: 2, output: 'cancel: unknown option -1; usage: cancel <id>\n' });
  });
});

describe('programs a command runs die with it', () => {
  it('Ctrl-C kills the child ctx.run started (a real sleep 30): gone within 3 s', async () => {
    const arg = sleepFor();
    const sh = shell();
    const ac = new AbortController();
    const job = sh.run(`sleeper ${arg}`, { signal: ac.signal });
    expect(await until(() => pidsWith(arg).length === 1, 3000)).toBe(true);
    const [pid] = pidsWith(arg);
    const t = Date.now();
    ac.abort();
    expect(await job).toEqual({ exitStatus: 130, output: 'sleeper: cancelled\n' });
    expect(await until(() => !alive(pid!), 3000)).toBe(true);
    expect(Date.now() - t).toBeLessThan(3000);
  });

  it('cancel <id> and the time-out kill it too', async () => {
    const sh = shell();
    const arg = sleepFor();
    const job = sh.run(`sleeper ${arg}`);
    expect(await until(() => pidsWith(arg).length === 1, 3000)).toBe(true);
    const [pid] = pidsWith(arg);
    expect((await sh.run('cancel 1')).exitStatus).toBe(0);
    expect((await job).exitStatus).toBe(130);
    expect(await until(() => !alive(pid!), 3000)).toBe(true);

    const timed = new LiveShell({ level: 'basic', commands, commandTimeoutMs: 300 });
    const arg2 = sleepFor();
    const r = timed.run(`sleeper ${arg2}`);
    expect(await until(() => pidsWith(arg2).length === 1, 3000)).toBe(true);
    const [pid2] = pidsWith(arg2);
    expect((await r).exitStatus).toBe(124);
    expect(await until(() => !alive(pid2!), 3000)).toBe(true);
  });
});
