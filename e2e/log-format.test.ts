/**
 * What a newcomer sees from `cordon server` (and `npm start`, which is `cordon up`): readable log
 * lines on a terminal, JSON when stderr is a pipe or a file, and either on request
 * (`--log-format`, CORDON_LOG_FORMAT). The terminal is a real pseudo-terminal (util-linux `script`).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { cleanup, CordonProcess, CORDON, tempDir, until } from './helpers.js';

const dirs: string[] = [];
const procs: CordonProcess[] = [];
afterAll(async () => {
  await Promise.all(procs.map((p) => p.kill('SIGKILL')));
  cleanup(dirs);
});

const PRETTY = /^\d\d:\d\d:\d\d INFO {2}api Server listening at http:\/\/127\.0\.0\.1:\d+\r?$/m;

/** Starts a server on free ports; answers its first log line (stderr, or the terminal's output). */
async function firstLogLine(extra: string[], env: Record<string, string> = {}, tty = false): Promise<string> {
  const dir = tempDir('logfmt');
  dirs.push(dir);
  const args = ['server', '--data-dir', dir, '--port', '0', '--agent-port', '0', '--agent-host', '127.0.0.1', ...extra];
  // Under `script` the server's stderr is a terminal; its output comes back on script's stdout.
  const p = tty ? new CordonProcess([], env, ['script', ['-qec', [process.execPath, CORDON, ...args].join(' '), '/dev/null']]) : new CordonProcess(args, env);
  procs.push(p);
  const out = () => (tty ? p.stdout : p.stderr);
  await until('the first log line', async () => /listening/.test(out()), 60_000);
  // script passes a SIGTERM on to the server it runs, so nothing is left behind.
  await p.kill('SIGTERM');
  return out().split('\n').find((l) => /listening/.test(l))!;
}

describe('log format', () => {
  it('is JSON when stderr is not a terminal, readable lines there with CORDON_LOG_FORMAT=pretty', async () => {
    expect(JSON.parse(await firstLogLine([]))).toMatchObject({ level: 30, part: 'api', msg: expect.stringMatching(/^Server listening at /) });
    expect(await firstLogLine([], { CORDON_LOG_FORMAT: 'pretty' })).toMatch(PRETTY);
  }, 150_000);

  it('is readable lines on a terminal, and JSON there with --log-format json', async () => {
    expect(await firstLogLine([], {}, true)).toMatch(PRETTY);
    expect(JSON.parse(await firstLogLine(['--log-format', 'json'], {}, true))).toMatchObject({ level: 30, part: 'api' });
  }, 150_000);
});
