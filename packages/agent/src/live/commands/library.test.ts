import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { libraryContentName, type LibraryFileRef } from '@cordon/protocol';
import { afterAll, describe, expect, it } from 'vitest';
import { LibraryFileError } from '../../content/library.js';
import { LiveShell } from '../session.js';

const tmp = mkdtempSync(join(tmpdir(), 'cordon-live-lib-'));
/** Stands for the content store: the verified bytes of each library file. */
const store = join(tmp, 'store');
const work = join(tmp, 'work dir;|&$()');
mkdirSync(store);
mkdirSync(work);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');
const files = new Map<string, string>();
function library(name: string, text: string): LibraryFileRef {
  writeFileSync(join(store, name), text);
  files.set(name, text);
  return { fileName: name, contentName: libraryContentName(name), version: 1, sha256: sha256(text) };
}
const fetched: LibraryFileRef[] = [];
/** What the agent wires (content/library.ts's fetchLibraryFile): the path of the verified bytes, or why not. */
async function fetchLibrary(ref: LibraryFileRef): Promise<string> {
  fetched.push(ref);
  if (!files.has(ref.fileName)) throw new LibraryFileError(`${ref.fileName} is not in the server's library`);
  return join(store, ref.fileName);
}
function shell(opts: { level?: 'basic' | 'advanced'; commandTimeoutMs?: number; dataDir?: string; outputBudget?: number } = {}): LiveShell {
  return new LiveShell({ level: opts.level ?? 'advanced', fetchLibrary, ...opts });
}
async function inWork(sh: LiveShell): Promise<void> {
  expect((await sh.run(`cd '${work}'`)).exitStatus).toBe(0);
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}
async function until(what: () => boolean, ms: number): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 20))) if (what()) return true;
  return what();
}

const TOOL = 'binary\x00\xffdata\n'.repeat(1000);
const tool = library('tool.bin', TOOL);

describe('putfile', () => {
  it('copies the library file into the working directory under its name, 0600, and reports path, size and SHA-256', async () => {
    const sh = shell();
    await inWork(sh);
    const r = await sh.run('putfile tool.bin', { library: tool });
    const path = join(work, 'tool.bin');
    expect(r).toEqual({ exitStatus: 0, output: `${path}: ${Buffer.byteLength(TOOL)} bytes, SHA-256 ${tool.sha256}\n`, data: { path, size: Buffer.byteLength(TOOL), sha256: tool.sha256, version: 1 } });
    expect(readFileSync(path, 'utf8')).toBe(TOOL);
    expect(lstatSync(path).mode & 0o7777).toBe(0o600);
    expect(fetched.at(-1)).toEqual(tool);
    // No temporary file is left next to it.
    expect(readdirSync(work).filter((n) => n.includes('cordon'))).toEqual([]);
    rmSync(path);
  });

  it('refuses a file already there unless -overwrite, and never writes through a link planted at the name', async () => {
    const sh = shell();
    await inWork(sh);
    const path = join(work, 'tool.bin');
    const victim = join(tmp, 'victim');
    writeFileSync(victim, 'precious\n');
    symlinkSync(victim, path);
    expect(await sh.run('putfile tool.bin', { library: tool })).toEqual({ exitStatus: 1, output: `putfile: ${path}: a file of that name is there already; putfile -overwrite replaces it\n` });
    expect(lstatSync(path).isSymbolicLink()).toBe(true);
    // -overwrite replaces the link itself; what it pointed to is untouched.
    expect((await sh.run('putfile tool.bin -overwrite', { library: tool })).exitStatus).toBe(0);
    expect(lstatSync(path).isFile()).toBe(true);
    expect(readFileSync(path, 'utf8')).toBe(TOOL);
    expect(readFileSync(victim, 'utf8')).toBe('precious\n');
    writeFileSync(path, 'old');
    expect((await sh.run('putfile tool.bin', { library: tool })).exitStatus).toBe(1);
    expect(readFileSync(path, 'utf8')).toBe('old');
    expect((await sh.run('putfile -overwrite tool.bin', { library: tool })).exitStatus).toBe(0);
    expect(readFileSync(path, 'utf8')).toBe(TOOL);
    mkdirSync(join(work, 'adir'));
    const adir = { ...tool, fileName: 'adir', contentName: libraryContentName('adir') };
    writeFileSync(join(store, 'adir'), TOOL);
    files.set('adir', TOOL);
    expect(await sh.run('putfile adir -overwrite', { library: adir })).toEqual({ exitStatus: 1, output: `putfile: ${work}/adir: a directory of that name is there; it is not replaced\n` });
    expect(readdirSync(work).filter((n) => n.includes('cordon'))).toEqual([]);
    rmSync(path);
  });

  it('refuses a name the server did not resolve, another name than the line’s, bytes that are not the named SHA-256, and a fetch that fails', async () => {
    const sh = shell();
    await inWork(sh);
    expect(await sh.run('putfile nope.sh')).toEqual({ exitStatus: 1, output: 'putfile: nope.sh is not in the library\n' });
    expect(await sh.run('putfile other.bin', { library: tool })).toEqual({ exitStatus: 1, output: 'putfile: the library file sent with this line is tool.bin, not other.bin; nothing was done\n' });
    expect(await sh.run('putfile tool.bin', { library: { ...tool, sha256: sha256('something else') } })).toEqual({
      exitStatus: 1,
      output: `putfile: ${work}/tool.bin: the library's copy has SHA-256 ${tool.sha256}, not ${sha256('something else')} as the command names; not used\n`,
    });
    const gone = { fileName: 'gone.sh', contentName: libraryContentName('gone.sh'), version: 2, sha256: sha256('x') };
    expect(await sh.run('putfile gone.sh', { library: gone })).toEqual({ exitStatus: 1, output: "putfile: gone.sh is not in the server's library\n" });
    expect(readdirSync(work)).not.toContain('tool.bin');
    expect(readdirSync(work).filter((n) => n.includes('cordon'))).toEqual([]);
    // A session without a library says so.
    const bare = new LiveShell({ level: 'advanced' });
    expect(await bare.run('putfile tool.bin', { library: tool })).toEqual({ exitStatus: 1, output: 'putfile: this session has no library (the agent cannot fetch library files here)\n' });
  });

  it('usage errors exit 2; a basic session refuses it (126)', async () => {
    const sh = shell();
    expect(await sh.run('putfile')).toEqual({ exitStatus: 2, output: 'putfile: usage: putfile <name> [-overwrite]\n' });
    expect(await sh.run('putfile a b')).toEqual({ exitStatus: 2, output: 'putfile: too many arguments; usage: putfile <name> [-overwrite]\n' });
    expect(await sh.run('putfile -f a')).toEqual({ exitStatus: 2, output: 'putfile: unknown option -f; usage: putfile <name> [-overwrite]\n' });
    expect(await shell({ level: 'basic' }).run('putfile tool.bin', { library: tool })).toEqual({ exitStatus: 126, output: 'putfile: an advanced command; this session runs basic commands only\n' });
  });
});

const ARGS = library('args.sh', '#!/bin/sh\nfor a in "$@"; do printf \'[%s]\\n\' "$a"; done\necho "cwd=$(pwd)"\necho "staged=$(stat -c %a "$(dirname "$0")") $(stat -c %a "$0") $0"\n');
const NO_SHEBANG = library('plain.sh', 'for a in "$@"; do printf \'{%s}\\n\' "$a"; done\n');
const FAIL = library('fail.sh', '#!/bin/sh\necho out\necho err >&2\nexit 7\n');
const SIG = library('sig.sh', '#!/bin/sh\necho bye\nkill -TERM $$\n');
const STREAM = library('stream.sh', '#!/bin/sh\necho one\nsleep 0.5\necho two\n');
const NODE = library('node.js', `#!${process.execPath}\nconsole.log(JSON.stringify(process.argv.slice(2)))\n`);
/** Starts a sleep in the background, says both pids, then sleeps itself. */
const LONG = library('long.sh', '#!/bin/sh\nsleep 30.123 &\necho "pids $$ $!"\nsleep 30.456\n');
const LITERAL = ['a b', 'c"d', "e'f", ';|&$()', '', '$(id)', '`id`', '*', '~', '-x', '--', '\\n'];

describe('run', () => {
  it('runs the script directly with the arguments exactly as split from the line: spaces, quotes and ;|&$() literal', async () => {
    const sh = shell();
    await inWork(sh);
    const r = await sh.run(`run args.sh 'a b' "c\\"d" "e'f" ';|&$()' '' '$(id)' '\`id\`' '*' '~' -x -- '\\n'`, { library: ARGS });
    expect(r.exitStatus).toBe(0);
    const lines = r.output.split('\n');
    expect(lines.slice(0, LITERAL.length)).toEqual(LITERAL.map((a) => `[${a}]`));
    // In the working directory; staged in a private directory as a private executable, removed afterwards.
    expect(lines[LITERAL.length]).toBe(`cwd=${work}`);
    const staged = /^staged=700 700 (\/.+)$/.exec(lines[LITERAL.length + 1]!);
    expect(staged).not.toBeNull();
    expect(existsSync(staged![1]!)).toBe(false);
    expect(r.data).toEqual({ fileName: 'args.sh', version: 1, sha256: ARGS.sha256, exitStatus: 0, signal: null, stderr: '' });
    expect(r.streams).toBeUndefined();
  });

  it('the #! line picks the interpreter; a script without one is read by /bin/sh', async () => {
    const sh = shell();
    expect(await sh.run(`run node.js 'a b' ';|&$()'`, { library: NODE })).toMatchObject({ exitStatus: 0, output: '["a b",";|&$()"]\n' });
    expect(await sh.run(`run plain.sh 'a b' '$(id)'`, { library: NO_SHEBANG })).toMatchObject({ exitStatus: 0, output: '{a b}\n{$(id)}\n' });
  });

  it('its exit status is the script’s; a signal that ends it is 128+n; stdout and stderr both shown, stderr also kept apart', async () => {
    const sh = shell();
    expect(await sh.run('run fail.sh', { library: FAIL })).toEqual({
      exitStatus: 7,
      output: expect.stringMatching(/^(out\nerr\n|err\nout\n)$/),
      streams: { stdout: 'out\n', stderr: 'err\n' },
      data: { fileName: 'fail.sh', version: 1, sha256: FAIL.sha256, exitStatus: 7, signal: null, stderr: 'err\n' },
    });
    expect(await sh.run('run sig.sh', { library: SIG })).toMatchObject({ exitStatus: 143, output: 'bye\nrun: sig.sh was ended by SIGTERM\n' });
  });

  it('stderr kept apart is what the output budget kept of it: the terminal text stays merged and in order', async () => {
    // Each line is written and flushed before the next, so the merged order is the script's.
    const MIXED = library('mixed.sh', '#!/bin/sh\necho o1\nsleep 0.1\necho e1 >&2\nsleep 0.1\necho o2\nsleep 0.1\nprintf "e2\\033[31m\\n" >&2\nsleep 0.1\nhead -c 300 /dev/zero | tr "\\0" x >&2\n');
    const r = await shell({ outputBudget: 120 }).run('run mixed.sh', { library: MIXED });
    expect(r.exitStatus).toBe(0);
    // 20 bytes of lines, then 100 of the 300 x's fit; the rest is counted, not kept, in either form.
    const kept = 'e1\ne2\\x1b[31m\n' + 'x'.repeat(100);
    expect(r.output).toBe(`o1\ne1\no2\ne2\\x1b[31m\n${'x'.repeat(100)}\n[output cut at 120 bytes: 200 bytes more not shown]\n`);
    expect(r.streams).toEqual({ stdout: 'o1\no2\n', stderr: kept });
    expect(r.data).toMatchObject({ stderr: kept });
    expect(r.data).not.toHaveProperty('stderrTruncated');
  });

  it('output is streamed as it comes', async () => {
    const chunks: { at: number; text: string }[] = [];
    const r = await shell().run('run stream.sh', { library: STREAM, onOutput: (text) => chunks.push({ at: Date.now(), text }) });
    expect(r.output).toBe('one\ntwo\n');
    const one = chunks.find((c) => c.text.includes('one'))!;
    const two = chunks.find((c) => c.text.includes('two'))!;
    expect(two.at - one.at).toBeGreaterThanOrEqual(300);
  });

  it('Ctrl-C stops the script and what it started: 130, both gone within 3 s, the staged copy removed', async () => {
    const sh = shell();
    const ac = new AbortController();
    let out = '';
    const job = sh.run('run long.sh', { library: LONG, signal: ac.signal, onOutput: (c) => (out += c) });
    expect(await until(() => /pids \d+ \d+\n/.test(out), 5000)).toBe(true);
    const [script, child] = /pids (\d+) (\d+)/.exec(out)!.slice(1).map(Number);
    expect(alive(script!) && alive(child!)).toBe(true);
    const t = Date.now();
    ac.abort();
    expect(await job).toMatchObject({ exitStatus: 130, output: expect.stringMatching(/run: cancelled\n$/) });
    expect(await until(() => !alive(script!) && !alive(child!), 3000)).toBe(true);
    expect(Date.now() - t).toBeLessThan(3000);
    expect(await until(() => !readdirSync(tmpdir()).some((n) => n.startsWith('cordon-run-') && statSync(join(tmpdir(), n)).mtimeMs >= t - 60_000), 3000)).toBe(true);
  });

  it('the time-out stops it too (124), staged below the data directory when the session has one', async () => {
    const dataDir = join(tmp, 'data');
    mkdirSync(dataDir, { mode: 0o700 });
    const sh = shell({ commandTimeoutMs: 600, dataDir });
    let out = '';
    const r = await sh.run('run long.sh', { library: LONG, onOutput: (c) => (out += c) });
    expect(r.exitStatus).toBe(124);
    const [script, child] = /pids (\d+) (\d+)/.exec(out)!.slice(1).map(Number);
    expect(await until(() => !alive(script!) && !alive(child!), 3000)).toBe(true);
    expect(await until(() => readdirSync(dataDir).length === 0, 3000)).toBe(true);
  });

  it('refuses what is not in the library or another name; usage errors exit 2; basic sessions 126', async () => {
    const sh = shell();
    expect(await sh.run('run nope.sh a')).toEqual({ exitStatus: 1, output: 'run: nope.sh is not in the library\n' });
    expect(await sh.run('run args.sh', { library: FAIL })).toEqual({ exitStatus: 1, output: 'run: the library file sent with this line is fail.sh, not args.sh; nothing was done\n' });
    expect(await sh.run('run')).toEqual({ exitStatus: 2, output: 'run: usage: run <name> [args...]\n' });
    expect(await sh.run('run -x args.sh')).toEqual({ exitStatus: 2, output: 'run: unknown option -x; usage: run <name> [args...]\n' });
    expect((await sh.run('run -- args.sh', { library: ARGS })).exitStatus).toBe(0);
    expect((await shell({ level: 'basic' }).run('run args.sh', { library: ARGS })).exitStatus).toBe(126);
  });
});
