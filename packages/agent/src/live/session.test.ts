import { describe, expect, it } from 'vitest';
import { basicCommands } from './commands/index.js';
import { CommandError } from './errors.js';
import { DEFAULT_COMMAND_TIMEOUT_MS, DEFAULT_OUTPUT_BUDGET, LiveShell } from './session.js';
import type { LiveCommand } from './types.js';

// Commands made for these tests: the interpreter's rules do not depend on what a command does.
const echo: LiveCommand = {
  name: 'echo',
  summary: 'Print the arguments, one a line',
  usage: 'echo [word...]',
  level: 'basic',
  async run(args, ctx) {
    ctx.write(args.map((a) => `${a}\n`).join(''));
    return { data: args };
  },
};
/** Writes `n` lines of `width` characters (with a line break), in chunks of `chunk` lines. */
const spew: LiveCommand = {
  name: 'spew',
  summary: 'Write many lines',
  usage: 'spew <lines> <width> [chunk]',
  level: 'basic',
  async run(args, ctx) {
    const [n = 0, width = 1, chunk = 1] = args.map(Number);
    const line = `${'x'.repeat(width - 1)}\n`;
    for (let i = 0; i < n; i += chunk) ctx.write(line.repeat(Math.min(chunk, n - i)));
  },
};
/** Runs until aborted, then says how it ended through `stopped`. */
let stopped: Promise<string> = Promise.resolve('');
const hang: LiveCommand = {
  name: 'hang',
  summary: 'Wait until stopped',
  usage: 'hang',
  level: 'basic',
  run(_args, ctx) {
    ctx.write('started\n');
    stopped = new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(String(ctx.signal.reason)), { once: true }));
    return new Promise(() => {}); // never settles: the session must not wait for it
  },
};
const fail: LiveCommand = {
  name: 'fail',
  summary: 'Fail',
  usage: 'fail',
  level: 'basic',
  async run(_args, ctx) {
    ctx.write('partial');
    throw new CommandError('it went wrong', 3);
  },
};
const advanced: LiveCommand = { name: 'remediate', summary: 'Change the device', usage: 'remediate', level: 'advanced', run: async (_a, ctx) => ctx.write('done\n') };
const commands = [...basicCommands, echo, spew, hang, fail, advanced];

describe('LiveShell: the interpreter', () => {
  it('runs a command with its arguments taken literally, and answers output and data', async () => {
    const sh = new LiveShell({ level: 'basic', commands });
    const r = await sh.run(`echo 'we ird;|&$().txt' "a b" c\\ d $(id) \`id\` ;rm`);
    expect(r).toEqual({ exitStatus: 0, output: 'we ird;|&$().txt\na b\nc d\n$(id)\n`id`\n;rm\n', data: ['we ird;|&$().txt', 'a b', 'c d', '$(id)', '`id`', ';rm'] });
  });

  it('an empty line does nothing; a bad line, an unknown command and a usage error fail with a clear line', async () => {
    const sh = new LiveShell({ level: 'basic', commands });
    expect(await sh.run('   ')).toEqual({ exitStatus: 0, output: '' });
    expect(await sh.run('echo "abc')).toEqual({ exitStatus: 2, output: 'unterminated double quote (") opened at column 6\n' });
    expect(await sh.run('nosuch x')).toEqual({ exitStatus: 127, output: 'nosuch: unknown command (help lists the commands)\n' });
    expect(await sh.run('pwd extra')).toEqual({ exitStatus: 2, output: 'pwd: too many arguments; usage: pwd\n' });
    expect(await sh.run('ls -z')).toEqual({ exitStatus: 2, output: 'ls: unknown option -z; usage: ls [-l] [-a] [path]\n' });
    // A failing command keeps what it wrote; its error goes on a line of its own.
    expect(await sh.run('fail')).toEqual({ exitStatus: 3, output: 'partial\nfail: it went wrong\n' });
  });

  it('a basic session refuses advanced commands; an advanced one runs them', async () => {
    const basic = new LiveShell({ level: 'basic', commands });
    expect(await basic.run('remediate')).toEqual({ exitStatus: 126, output: 'remediate: an advanced command; this session runs basic commands only\n' });
    expect((await basic.run('help')).output).toContain('Change the device (advanced: not in this session)');
    expect((await basic.run('help remediate')).output).toBe('Change the device\nusage: remediate\nAn advanced command: this session runs basic commands only.\n');
    const adv = new LiveShell({ level: 'advanced', commands });
    expect(await adv.run('remediate')).toEqual({ exitStatus: 0, output: 'done\n' });
    expect((await adv.run('help')).output).not.toContain('not in this session');
  });

  it('help lists every basic command with its summary, and shows one command’s usage', async () => {
    const sh = new LiveShell({ level: 'basic' });
    const r = await sh.run('help');
    expect(r.exitStatus).toBe(0);
    for (const name of ['cancel', 'cd', 'connections', 'fg', 'fileinfo', 'findfile', 'help', 'jobs', 'ls', 'persistence', 'processes', 'pwd', 'scheduledtasks', 'services', 'trace']) expect(r.output).toMatch(new RegExp(`^${name} +\\S`, 'm'));
    // The advanced commands are listed too, marked as not in this session.
    for (const name of ['putfile', 'remediate', 'run', 'undo']) expect(r.output).toMatch(new RegExp(`^${name} +.*\\(advanced: not in this session\\)$`, 'm'));
    expect((await sh.run('help findfile')).output).toBe('Find files by name or glob (e.g. *.sh) below a directory, without following links\nusage: findfile <name-or-glob> [--root <dir>] [--max N]\n');
    expect(await sh.run('help nosuch')).toEqual({ exitStatus: 1, output: 'help: nosuch: unknown command (help lists the commands)\n' });
  });

  it('escapes control characters: output cannot drive the terminal', async () => {
    const sh = new LiveShell({ level: 'basic', commands });
    const r = await sh.run(`echo "$(printf '\\033')" 'a\x1b]0;pwned\x07b' 'c\rd'`);
    expect(r.output).toBe('$(printf \'\\033\')\na\\x1b]0;pwned\\x07b\nc\\rd\n');
    expect((await sh.run('nosuch\x1b[2J')).output).toBe('nosuch\\x1b[2J: unknown command (help lists the commands)\n');
    // Bidirectional overrides would show text in another order than it has.
    expect((await sh.run('echo \u202eexe.txt')).output).toBe('\\u202eexe.txt\n');
  });

  it('trace on shows what a command runs and how long it took; trace off hides it', async () => {
    const sh = new LiveShell({ level: 'basic', commands });
    expect(await sh.run('trace')).toEqual({ exitStatus: 0, output: 'trace is off\n', data: { trace: false } });
    expect((await sh.run('trace on')).output).toMatch(/^trace is on\n\[trace\] trace: \d+ ms, exit status 0\n$/);
    expect((await sh.run('echo hi')).output).toMatch(/^hi\n\[trace\] echo: \d+ ms, exit status 0\n$/);
    expect(await sh.run('trace off')).toEqual({ exitStatus: 0, output: 'trace is off\n', data: { trace: false } });
    expect(await sh.run('trace maybe')).toEqual({ exitStatus: 2, output: 'trace: usage: trace [on | off]\n' });
  });
});

describe('LiveShell: the output budget', () => {
  it('is 1 MiB by default; output past it is cut at a line and ends with a line saying how much was left out', async () => {
    expect(DEFAULT_OUTPUT_BUDGET).toBe(1024 * 1024);
    const sh = new LiveShell({ level: 'basic', commands });
    // 2 MiB of 1 KiB lines: the first 1024 lines are kept, 1024 KiB left out.
    const r = await sh.run('spew 2048 1024 7');
    const lines = r.output.split('\n');
    expect(r.truncated).toBe(true);
    expect(lines.slice(0, -2).every((l) => l.length === 1023)).toBe(true);
    expect(lines.length - 2).toBe(1024);
    expect(lines.at(-2)).toBe('[output cut at 1 MiB: 1 MiB (1048576 bytes) more not shown]');
    expect(r.exitStatus).toBe(0);
  });

  it('a budget set per session; a partial line is ended before the note; chunks streamed stay within it', async () => {
    const chunks: string[] = [];
    const sh = new LiveShell({ level: 'basic', commands, outputBudget: 1000 });
    const r = await sh.run('spew 30 100 30', { onOutput: (c) => chunks.push(c) });
    // One 3000-byte write: its first 10 full lines fit (1000 bytes), 2000 bytes are left out.
    expect(r.output).toBe(`${'x'.repeat(99)}\n`.repeat(10) + '[output cut at 1000 bytes: 2 KiB (2000 bytes) more not shown]\n');
    expect(chunks.join('')).toBe(r.output);
    const small = new LiveShell({ level: 'basic', commands, outputBudget: 50 });
    const partial = await small.run('spew 1 200');
    expect(partial.output).toBe(`${'x'.repeat(50)}\n[output cut at 50 bytes: 150 bytes more not shown]\n`);
    // Never half a character: the cut falls before a multi-byte character that does not fit.
    const utf = new LiveShell({ level: 'basic', commands, outputBudget: 5 });
    expect((await utf.run('echo ééé')).output).toBe('éé\n[output cut at 5 bytes: 3 bytes more not shown]\n');
    expect((await sh.run('spew 10 100')).truncated).toBeUndefined();
  });
});

describe('LiveShell: stopping a command', () => {
  it('Ctrl-C (the caller’s signal) stops the command at once: exit status 130, the output so far kept', async () => {
    const sh = new LiveShell({ level: 'basic', commands });
    const ac = new AbortController();
    const running = sh.run('hang', { signal: ac.signal });
    expect(sh.jobs()).toMatchObject([{ id: 1, line: 'hang', command: 'hang' }]);
    setTimeout(() => ac.abort(), 20);
    const t = Date.now();
    expect(await running).toEqual({ exitStatus: 130, output: 'started\nhang: cancelled\n' });
    expect(Date.now() - t).toBeLessThan(2000);
    expect(await stopped).not.toBe('');
    expect(sh.jobs()).toEqual([]);
    // An already aborted signal does not start the command.
    expect(await sh.run('echo x', { signal: AbortSignal.abort() })).toEqual({ exitStatus: 130, output: 'echo: cancelled\n' });
  });

  it('the time-out (10 min by default) ends a command as failed, saying why', async () => {
    expect(DEFAULT_COMMAND_TIMEOUT_MS).toBe(600_000);
    const sh = new LiveShell({ level: 'basic', commands, commandTimeoutMs: 150 });
    expect(await sh.run('hang')).toEqual({ exitStatus: 124, output: 'started\nhang: timed out after 150 ms; stopped\n' });
    expect(await stopped).toBe('timeout');
    // The session goes on.
    expect(await sh.run('echo next')).toMatchObject({ exitStatus: 0, output: 'next\n' });
  });

  it('cancel(id) stops one running command; close() stops them all and ends the session', async () => {
    const sh = new LiveShell({ level: 'basic', commands });
    const first = sh.run('hang');
    const firstStopped = stopped;
    const second = sh.run('hang 2');
    expect(sh.jobs().map((j) => j.line)).toEqual(['hang', 'hang 2']);
    expect(sh.cancel(1)).toBe(true);
    expect(sh.cancel(99)).toBe(false);
    expect(await first).toEqual({ exitStatus: 130, output: 'started\nhang: cancelled\n' });
    expect(await firstStopped).toBe('cancel');
    sh.close();
    expect(await second).toEqual({ exitStatus: 130, output: 'started\nhang: stopped: the session ended\n' });
    expect(await sh.run('pwd')).toEqual({ exitStatus: 1, output: 'the session has ended\n' });
  });
});
