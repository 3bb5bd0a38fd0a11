import { describe, expect, it } from 'vitest';
import { LiveShell } from '../session.js';
import type { TerminalInput, TerminalLink } from '../types.js';
import { pickShell } from './shell.js';

/** A client's terminal for tests: typed input is held until the shell attaches, as the agent's channel does. */
function terminal(idleMs = 60_000): TerminalLink & { type(data: string): void; resize(cols: number, rows: number): void } {
  let onInput: ((i: TerminalInput) => void) | null = null;
  const held: TerminalInput[] = [];
  const send = (i: TerminalInput) => (onInput ? onInput(i) : held.push(i));
  return {
    cols: 100,
    rows: 30,
    idleMs,
    attach(f) {
      onInput = f;
      for (const i of held.splice(0)) f(i);
    },
    type: (data) => send({ data }),
    resize: (cols, rows) => send({ cols, rows }),
  };
}

/** Runs `shell` and answers its result, the output so far, and a way to wait for output. */
function start(opts: { shell?: boolean; level?: 'basic' | 'advanced'; idleMs?: number; signal?: AbortSignal; budget?: number } = {}) {
  const live = new LiveShell({ level: opts.level ?? 'advanced', shellAllowed: opts.shell ?? true, ...(opts.budget ? { shellOutputBudget: opts.budget } : {}) });
  const term = terminal(opts.idleMs);
  let output = '';
  const result = live.run('shell', { terminal: term, onOutput: (c) => (output += c), ...(opts.signal ? { signal: opts.signal } : {}) });
  const waitFor = async (re: RegExp, ms = 10_000): Promise<RegExpMatchArray> => {
    const until = Date.now() + ms;
    for (;;) {
      const m = output.match(re);
      if (m) return m;
      if (Date.now() > until) throw new Error(`no ${re} in the output: ${JSON.stringify(output)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return { live, term, result, waitFor, output: () => output };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('shell (a real pty)', () => {
  it('runs what is typed, passes the terminal through raw, and ends with the shell exit status', async () => {
    const s = start();
    s.term.type('echo $((6*7)) $TERM\r');
    await s.waitFor(/42 xterm-256color/);
    // Raw terminal output: line ends are the terminal's \r\n, escape sequences are not escaped as text.
    expect(s.output()).toContain('\r\n');
    expect(s.output()).not.toContain('\\x1b');
    s.term.type('stty size\r');
    await s.waitFor(/30 100/);
    s.term.resize(120, 40);
    s.term.type('stty size\r');
    await s.waitFor(/40 120/);
    s.term.type('exit 3\r');
    const r = await s.result;
    expect(r.exitStatus).toBe(3);
    expect(s.live.jobs()).toEqual([]);
  });

  it('ends with 0 on exit and on Ctrl-D', async () => {
    const a = start();
    a.term.type('exit\r');
    expect((await a.result).exitStatus).toBe(0);
    const b = start();
    b.term.type('echo ready\r');
    await b.waitFor(/\rready\r\n[^]*[#$] $/);
    b.term.type('\u0004');
    expect((await b.result).exitStatus).toBe(0);
  });

  it('starts in the session working directory', async () => {
    const live = new LiveShell({ level: 'advanced', shellAllowed: true });
    await live.run('cd /tmp');
    const term = terminal();
    let output = '';
    const done = live.run('shell', { terminal: term, onOutput: (c) => (output += c) });
    // One line, then exit once its output is seen: output written just before the shell exits may
    // never be read from the pty (a CI run saw the echo and a prompt, not the answer).
    term.type('pwd\r');
    for (const until = Date.now() + 10_000; !/\r\/tmp\r\n/.test(output); await new Promise((r) => setTimeout(r, 20))) {
      if (Date.now() > until) throw new Error(`no /tmp in ${JSON.stringify(output)}`);
    }
    term.type('exit\r');
    await done;
    expect(output).toMatch(/\r\/tmp\r\n/);
  });

  it('is refused when the device group does not allow it, in a basic session, and without a terminal', async () => {
    const off = await new LiveShell({ level: 'advanced', shellAllowed: false }).run('shell', { terminal: terminal() });
    expect(off.exitStatus).toBe(126);
    expect(off.output).toContain("not enabled for this device's group");
    const basic = await new LiveShell({ level: 'basic', shellAllowed: true }).run('shell', { terminal: terminal() });
    expect(basic.exitStatus).toBe(126);
    expect(basic.output).toContain('advanced command');
    const none = await new LiveShell({ level: 'advanced', shellAllowed: true }).run('shell');
    expect(none.exitStatus).toBe(2);
    const args = await new LiveShell({ level: 'advanced', shellAllowed: true }).run('shell -c id', { terminal: terminal() });
    expect(args.exitStatus).toBe(2);
  });

  it('cancel hangs up the whole process group (the shell and what it started)', async () => {
    const stop = new AbortController();
    const s = start({ signal: stop.signal });
    s.term.type('sleep 300 & echo "pids $$ $!"\r');
    const [, shellPid, childPid] = (await s.waitFor(/pids (\d+) (\d+)/))!;
    expect(alive(Number(shellPid))).toBe(true);
    stop.abort();
    const r = await s.result;
    expect(r.exitStatus).toBe(130);
    for (let i = 0; i < 100 && (alive(Number(shellPid)) || alive(Number(childPid))); i++) await new Promise((res) => setTimeout(res, 50));
    expect(alive(Number(shellPid))).toBe(false);
    expect(alive(Number(childPid))).toBe(false);
  });

  it('ends after the idle time-out with no keystroke, and when the session closes', async () => {
    const idle = start({ idleMs: 300 });
    const r = await idle.result;
    expect(r.exitStatus).toBe(124);
    expect(r.output).toContain('idle time-out');
    const closing = start();
    closing.term.type('echo up\r');
    await closing.waitFor(/\rup\r\n/);
    closing.live.close();
    expect((await closing.result).exitStatus).toBe(130);
  });

  it('is ended, with a note, when its output goes over the budget (nothing it shows goes unrecorded)', async () => {
    const s = start({ budget: 64 * 1024 });
    s.term.type('yes cordon | head -c 200000; sleep 30\r');
    const r = await s.result;
    expect(r.exitStatus).toBe(1);
    expect(r.truncated).toBe(true);
    expect(r.output).toMatch(/output cut at 64 KiB/);
    expect(r.output).toContain('the shell was ended so that nothing it shows goes unrecorded');
  });

  it('picks the first shell that can be run', async () => {
    expect(await pickShell(['/nonexistent/zsh', null, 'relative/sh', '/bin/sh'])).toBe('/bin/sh');
    await expect(pickShell(['/nonexistent/sh'])).rejects.toThrow('no shell found');
  });
});
