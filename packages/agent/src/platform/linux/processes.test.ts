import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from './exec.js';
import { runStreamed } from './processes.js';

/** Whether a pid names a live process (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** The pids of processes whose command line holds `marker` (a unique argument), read from /proc. */
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
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (what()) return true;
  return what();
}

/** A unique sleep duration: the marker that finds the child in /proc. */
const sleepFor = () => `30.${process.pid}${Math.floor(Math.random() * 1e6)}`;

describe('run: a program stopped from outside', () => {
  it('an aborted signal kills the child (a real sleep 30): gone within 3 s, code 130', async () => {
    const arg = sleepFor();
    const ac = new AbortController();
    const done = run('sleep', [arg], { signal: ac.signal, timeoutMs: 60_000 });
    expect(await until(() => pidsWith(arg).length === 1, 2000)).toBe(true);
    const [pid] = pidsWith(arg);
    const t = Date.now();
    ac.abort();
    expect(await until(() => !alive(pid!), 3000)).toBe(true);
    expect(Date.now() - t).toBeLessThan(3000);
    expect(await done).toMatchObject({ code: 130, stderr: 'sleep was stopped: cancelled' });
  });

  it('a child that ignores SIGTERM gets SIGKILL about 2 s later', async () => {
    const ready = join(mkdtempSync(join(tmpdir(), 'cordon-exec-')), 'ready');
    const ac = new AbortController();
    // It says it is ready once its handler is in place (Node catches SIGTERM from the start, to reset the terminal).
    const done = run(process.execPath, ['-e', "process.on('SIGTERM',()=>{});require('fs').writeFileSync(process.argv[1],'');setInterval(()=>{},1000)", ready], { signal: ac.signal, timeoutMs: 60_000 });
    expect(await until(() => existsSync(ready) && pidsWith(ready).length === 1, 5000)).toBe(true);
    const [pid] = pidsWith(ready);
    const t = Date.now();
    ac.abort();
    await new Promise((r) => setTimeout(r, 1000));
    expect(alive(pid!)).toBe(true); // SIGTERM was ignored…
    expect(await until(() => !alive(pid!), 3000)).toBe(true); // …SIGKILL was not
    expect(Date.now() - t).toBeGreaterThanOrEqual(1900);
    expect((await done).code).toBe(130);
    rmSync(dirname(ready), { recursive: true, force: true });
  });

  it('the time-out stops it too (124); an aborted signal does not start it; a missing program is 127', async () => {
    const t = Date.now();
    expect(await run('sleep', ['30'], { timeoutMs: 200 })).toMatchObject({ code: 124, stderr: 'sleep did not finish within 0.2 s' });
    expect(Date.now() - t).toBeLessThan(2500);
    expect(await run('sleep', ['30'], { signal: AbortSignal.abort() })).toEqual({ code: 130, stdout: '', stderr: 'sleep was not started: cancelled' });
    expect((await run('/nonexistent/program', [])).code).toBe(127);
    expect(await run('printf', ['%s|', 'a b', ';$(id)'])).toEqual({ code: 0, stdout: 'a b|;$(id)|', stderr: '' });
  });
});

describe('runStreamed: a process group, streamed', () => {
  const opts = (signal: AbortSignal, out: Buffer[], err: Buffer[], onStart?: (pid: number) => void) => ({ cwd: '/', env: { PATH: process.env.PATH }, signal, onStdout: (c: Buffer) => out.push(c), onStderr: (c: Buffer) => err.push(c), onStart });

  it('hands over stdout and stderr as they come and answers the exit code or the signal', async () => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const ac = new AbortController();
    const end = await runStreamed(process.execPath, ['-e', "process.stdout.write('o');process.stderr.write('e');process.exitCode=3"], opts(ac.signal, out, err));
    expect(end).toEqual({ code: 3, signal: null });
    expect(Buffer.concat(out).toString()).toBe('o');
    expect(Buffer.concat(err).toString()).toBe('e');
    expect(await runStreamed(process.execPath, ['-e', "process.kill(process.pid,'SIGHUP')"], opts(ac.signal, [], []))).toEqual({ code: null, signal: 'SIGHUP' });
    await expect(runStreamed('/nonexistent/program', [], opts(ac.signal, [], []))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('abort stops the program and what it started (its group): both gone within 3 s', async () => {
    const marker = sleepFor();
    const ac = new AbortController();
    let leader = 0;
    // The leader starts a sleep of its own, then waits.
    const done = runStreamed(process.execPath, ['-e', `require('child_process').spawn('sleep',['${marker}'],{stdio:'ignore'});setInterval(()=>{},1000)`], opts(ac.signal, [], [], (pid) => (leader = pid)));
    expect(await until(() => pidsWith(marker).length === 1, 5000)).toBe(true);
    const [grandchild] = pidsWith(marker);
    const t = Date.now();
    ac.abort();
    expect(await until(() => !alive(leader) && !alive(grandchild!), 3000)).toBe(true);
    expect(Date.now() - t).toBeLessThan(3000);
    expect(await done).toEqual({ code: null, signal: 'SIGTERM' });
  });
});
