import { execFile, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LiveShell } from '../session.js';
import type { LiveResult } from '../types.js';
import type { FileInfo } from './fileinfo.js';
import { inPseudoFileSystem, nameMatcher } from './findfile.js';
import type { ListedEntry } from './ls.js';

const isRoot = process.getuid?.() === 0;
const hasDpkg = (() => {
  try {
    execFileSync('dpkg', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

const tmp = mkdtempSync(join(tmpdir(), 'cordon-live-'));
const t = join(tmp, 'tree');
const WEIRD = 'we ird;|&$().txt';
const WEIRD_DIR = 'dir with spaces;|&$()';
const BIG = randomBytes(5 * 1024 * 1024 + 123);
let sockServer: Server;

function write(path: string, data: string | Buffer = 'x\n'): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
  return path;
}

beforeAll(async () => {
  write(join(t, 'docs/a.txt'), 'hello\n');
  write(join(t, 'docs/.hidden'));
  write(join(t, 'docs', WEIRD), 'odd\n');
  write(join(t, 'docs/sub/deep.sh'), '#!/bin/sh\n');
  write(join(t, WEIRD_DIR, 'inner'));
  write(join(t, 'big.bin'), BIG);
  symlinkSync('docs', join(t, 'link-to-docs'));
  symlinkSync('/nonexistent/target', join(t, 'dangling'));
  execFileSync('mkfifo', [join(t, 'fifo')]);
  if (isRoot) execFileSync('mknod', [join(t, 'null'), 'c', '1', '3']);
  sockServer = createServer();
  await new Promise<void>((resolve) => sockServer.listen(join(t, 'sock'), resolve));
  // A directory a user controls, holding a link that user planted to /etc.
  mkdirSync(join(t, 'userdir'));
  symlinkSync('/etc', join(t, 'userdir/evil'));
  if (isRoot) {
    chownSync(join(t, 'userdir'), 4242, 4242);
    lchownSync(join(t, 'userdir/evil'), 4242, 4242);
  }
});
afterAll(async () => {
  await new Promise((resolve) => sockServer.close(resolve));
  rmSync(tmp, { recursive: true, force: true });
});

function shell(): LiveShell {
  return new LiveShell({ level: 'basic' });
}
const hex = (alg: string, data: string | Buffer) => createHash(alg).update(data).digest('hex');

describe('cd and pwd', () => {
  it('cd to absolute and relative directories, .., alone (/) and - (the previous one); pwd says where', async () => {
    const sh = shell();
    expect(await sh.run('pwd')).toEqual({ exitStatus: 0, output: '/\n', data: { cwd: '/' } });
    expect(await sh.run(`cd ${t}`)).toEqual({ exitStatus: 0, output: '', data: { cwd: t } });
    expect((await sh.run('cd docs/sub')).exitStatus).toBe(0);
    expect((await sh.run('pwd')).output).toBe(`${t}/docs/sub\n`);
    await sh.run('cd ../..');
    expect(sh.cwd).toBe(t);
    expect(await sh.run(`cd '${WEIRD_DIR}'`)).toMatchObject({ exitStatus: 0, data: { cwd: join(t, WEIRD_DIR) } });
    expect(await sh.run('cd -')).toEqual({ exitStatus: 0, output: `${t}\n`, data: { cwd: t } });
    expect((await sh.run('cd')).data).toEqual({ cwd: '/' });
    expect(sh.cwd).toBe('/');
  });

  it('refuses what is not an existing directory, with a clear line, and stays where it was', async () => {
    const sh = shell();
    await sh.run(`cd ${t}`);
    expect(await sh.run('cd docs/a.txt')).toEqual({ exitStatus: 1, output: `cd: ${t}/docs/a.txt: not a directory\n` });
    expect(await sh.run('cd nope')).toEqual({ exitStatus: 1, output: `cd: ${t}/nope: no such file or directory\n` });
    expect(await sh.run('cd dangling')).toEqual({ exitStatus: 1, output: `cd: ${t}/dangling: no such file or directory\n` });
    expect(await sh.run('cd a b')).toEqual({ exitStatus: 2, output: 'cd: too many arguments; usage: cd [dir | -]\n' });
    expect(await shell().run('cd -')).toEqual({ exitStatus: 1, output: 'cd: no previous directory\n' });
    expect(sh.cwd).toBe(t);
  });

  it.skipIf(!isRoot)('does not follow a link a user could have planted', async () => {
    const sh = shell();
    expect(await sh.run(`cd ${t}/userdir/evil`)).toEqual({ exitStatus: 1, output: `cd: ${t}/userdir/evil: a symbolic link to /etc a user could have planted; not followed\n` });
    expect(await sh.run(`cd ${t}/userdir/evil/ssh`)).toEqual({ exitStatus: 1, output: `cd: ${t}/userdir/evil/ssh: ${t}/userdir/evil is a symbolic link to /etc a user could have planted; it is not followed\n` });
    expect(sh.cwd).toBe('/');
  });
});

describe('ls', () => {
  it('names in byte order, without dot-files unless -a; relative to the cwd', async () => {
    const sh = shell();
    await sh.run(`cd ${t}`);
    expect(await sh.run('ls docs')).toMatchObject({ exitStatus: 0, output: `a.txt\nsub\n${WEIRD}\n` });
    expect((await sh.run('ls -a docs')).output).toBe(`.hidden\na.txt\nsub\n${WEIRD}\n`);
    expect((await sh.run('ls -la docs')).output.split('\n').filter(Boolean)).toHaveLength(5); // header + 4
    await sh.run('cd docs');
    expect((await sh.run('ls')).output).toBe(`a.txt\nsub\n${WEIRD}\n`);
  });

  it('-l shows type, mode, owner, size and time; a link with its target, never followed; FIFOs, sockets and devices listed, never opened', async () => {
    const r = await shell().run(`ls -l ${t}`);
    expect(r.exitStatus).toBe(0);
    const lines = r.output.split('\n');
    expect(lines[0]).toMatch(/^MODE +OWNER +GROUP +SIZE +MODIFIED +NAME$/);
    const line = (name: string) => lines.find((l) => l.endsWith(` ${name}`) || l.includes(` ${name} -> `));
    expect(line('big.bin')).toMatch(new RegExp(`^-rw-r--r-- +root +root +${BIG.length} +\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ +big\\.bin$`));
    expect(line('docs')).toMatch(/^drwxr-xr-x /);
    expect(line('link-to-docs')).toMatch(/^lrwxrwxrwx .* link-to-docs -> docs$/);
    expect(line('dangling')).toMatch(/^lrwxrwxrwx .* dangling -> \/nonexistent\/target$/);
    expect(line('fifo')).toMatch(/^prw-r--r-- /);
    expect(line('sock')).toMatch(/^srwxr-xr-x /);
    if (isRoot) expect(line('null')).toMatch(/^crw-r--r-- /);
    const entries = (r.data as { entries: ListedEntry[] }).entries;
    expect(entries.find((e) => e.name === 'link-to-docs')).toMatchObject({ type: 'symbolic link', target: 'docs', user: 'root', uid: 0 });
    expect(entries.find((e) => e.name === 'fifo')?.type).toBe('FIFO');
    expect(entries.find((e) => e.name === 'sock')?.type).toBe('socket');
  });

  it('one file, a name with spaces and ;|&$() quoted on the line, and errors', async () => {
    const sh = shell();
    await sh.run(`cd ${t}/docs`);
    expect(await sh.run(`ls -l '${WEIRD}'`)).toMatchObject({ exitStatus: 0, output: expect.stringMatching(new RegExp(` 4 +\\S+ +${WEIRD.replace(/[|$().]/g, '\\$&')}\n$`)) });
    expect(await sh.run('ls nope')).toEqual({ exitStatus: 1, output: `ls: ${t}/docs/nope: no such file or directory\n` });
    expect(await sh.run('ls a.txt/x')).toEqual({ exitStatus: 1, output: `ls: ${t}/docs/a.txt/x: ${t}/docs/a.txt is not a directory\n` });
  });

  it('a name with a line break or terminal escapes is shown escaped, on one line; data keeps it as it is', async () => {
    const d = join(tmp, 'odd-names');
    write(join(d, 'evil\x1b[2J\nline'));
    const r = await shell().run(`ls ${d}`);
    expect(r.output).toBe('evil\\x1b[2J\\nline\n');
    expect((r.data as { entries: ListedEntry[] }).entries.map((e) => e.name)).toEqual(['evil\x1b[2J\nline']);
  });

  it.skipIf(!isRoot)('a link a user could have planted is listed as the link, never followed', async () => {
    const r = await shell().run(`ls -l ${t}/userdir/evil`);
    expect(r.exitStatus).toBe(0);
    expect(r.output).toMatch(/^MODE.*\nlrwxrwxrwx +4242 +4242 .* \S+\/userdir\/evil -> \/etc\n$/);
  });
});

describe('fileinfo', () => {
  it('a regular file: type, size, mode, owner, times and its SHA-256, SHA-1 and MD5 (streamed)', async () => {
    const sh = shell();
    await sh.run(`cd ${t}`);
    const r = await sh.run('fileinfo big.bin');
    expect(r.exitStatus).toBe(0);
    const st = lstatSync(join(t, 'big.bin'));
    expect(r.data).toMatchObject({
      path: join(t, 'big.bin'),
      type: 'regular file',
      size: BIG.length,
      mode: '-rw-r--r--',
      permissions: '0644',
      uid: st.uid,
      links: 1,
      inode: st.ino,
      modified: st.mtime.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      sha256: hex('sha256', BIG),
      sha1: hex('sha1', BIG),
      md5: hex('md5', BIG),
    } satisfies Partial<FileInfo>);
    expect(r.output).toContain(`sha256:   ${hex('sha256', BIG)}\n`);
    expect(r.output).toMatch(/^born: +(\d{4}-\S+Z|not recorded by this file system)$/m);
    if (isRoot) expect(r.output).toContain('owner:    root (0)\n');
    if (hasDpkg) expect((r.data as FileInfo).package).toEqual({ manager: 'dpkg', names: [] });
  });

  it('a name with spaces and ;|&$(), quoted on the command line, is a file name and nothing else', async () => {
    const r = await shell().run(`fileinfo "${t}/docs/${WEIRD}"`);
    expect(r).toMatchObject({ exitStatus: 0, data: { path: `${t}/docs/${WEIRD}`, sha256: hex('sha256', 'odd\n') } });
  });

  it.skipIf(!hasDpkg)('names the package that installed a file (dpkg -S), also by its merged-/usr path', async () => {
    const r = await shell().run('fileinfo /usr/bin/dpkg');
    expect((r.data as FileInfo).package).toEqual({ manager: 'dpkg', names: ['dpkg'] });
    expect(r.output).toContain('package:  dpkg (dpkg)\n');
  });

  it('a symbolic link is described, not followed; a directory has no hashes and is no error', async () => {
    const sh = shell();
    const link = await sh.run(`fileinfo ${t}/link-to-docs`);
    expect(link.exitStatus).toBe(0);
    expect(link.data).toMatchObject({ type: 'symbolic link', target: 'docs', size: 4 });
    expect(link.data).not.toHaveProperty('sha256');
    expect(link.output).toContain('type:     symbolic link to docs (not followed)\n');
    const dir = await sh.run(`fileinfo ${t}/docs`);
    expect(dir).toMatchObject({ exitStatus: 0, data: { type: 'directory' } });
    expect(dir.data).not.toHaveProperty('sha256');
  });

  it('a FIFO, a socket or a device node: its type and metadata, never opened, and no hashes (exit status 1)', async () => {
    const sh = shell();
    const cases: [string, string][] = [
      ['fifo', 'FIFO'],
      ['sock', 'socket'],
      ...(isRoot ? ([['null', 'character device']] as [string, string][]) : []),
    ];
    for (const [name, type] of cases) {
      const r = await sh.run(`fileinfo ${t}/${name}`);
      expect(r.exitStatus, name).toBe(1);
      expect(r.data, name).toMatchObject({ type });
      expect(r.data, name).not.toHaveProperty('sha256');
      expect(r.output.split('\n').at(-2)).toBe(`fileinfo: ${t}/${name}: a ${type} is never opened, so it has no hashes`);
    }
  });

  it('a missing file or a missing argument: a clear line', async () => {
    const sh = shell();
    expect(await sh.run(`fileinfo ${t}/nope`)).toEqual({ exitStatus: 1, output: `fileinfo: ${t}/nope: no such file or directory\n` });
    expect(await sh.run('fileinfo')).toEqual({ exitStatus: 2, output: 'fileinfo: usage: fileinfo <path>\n' });
  });

  describe('a huge file', () => {
    const sparse = join(tmp, 'sparse.img');
    beforeAll(() => {
      write(sparse, '');
      truncateSync(sparse, 64 * 1024 ** 3); // 64 GiB of holes: minutes to hash
    });
    /** Whether this process still has the file open. */
    const open = () => readdirSync('/proc/self/fd').some((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === sparse;
      } catch {
        return false;
      }
    });
    const until = async (what: string, ok: () => boolean) => {
      for (const end = Date.now() + 10_000; !ok(); await new Promise((r) => setTimeout(r, 20))) if (Date.now() > end) throw new Error(`timed out waiting: ${what}`);
    };

    it('Ctrl-C stops the hashing at once, and the file is closed', async () => {
      const ac = new AbortController();
      const running = shell().run(`fileinfo ${sparse}`, { signal: ac.signal });
      await until('hashing started', open);
      const t0 = Date.now();
      ac.abort();
      const r: LiveResult = await running;
      expect(r).toEqual({ exitStatus: 130, output: 'fileinfo: cancelled\n' });
      expect(Date.now() - t0).toBeLessThan(2000);
      await until('the file closed', () => !open());
    });

    it('the command time-out ends it as failed, with the reason, and the file is closed', async () => {
      const r = await new LiveShell({ level: 'basic', commandTimeoutMs: 300 }).run(`fileinfo ${sparse}`);
      expect(r).toEqual({ exitStatus: 124, output: 'fileinfo: timed out after 300 ms; stopped\n' });
      await until('the file closed', () => !open());
    });
  });
});

describe('findfile', () => {
  const names = (r: LiveResult) => (r.data as { matches: { path: string }[] }).matches.map((m) => m.path.slice(t.length)).sort();

  it('finds names and globs below --root (relative to the cwd), links found but never entered', async () => {
    const sh = shell();
    await sh.run(`cd ${tmp}`);
    const txt = await sh.run("findfile '*.txt' --root tree");
    expect(txt.exitStatus).toBe(0);
    // docs/a.txt once: the walk does not go through link-to-docs.
    expect(names(txt)).toEqual(['/docs/a.txt', `/docs/${WEIRD}`]);
    expect(txt.output.split('\n').filter(Boolean).sort()).toEqual([`${t}/docs/a.txt`, `${t}/docs/${WEIRD}`]);
    expect(names(await sh.run('findfile deep.sh --root tree'))).toEqual(['/docs/sub/deep.sh']);
    expect(names(await sh.run(`findfile 'link-*' --root=${t}`))).toEqual(['/link-to-docs']);
    expect(names(await sh.run(`findfile '*;|&$()*' --root ${t}`))).toEqual([`/${WEIRD_DIR}`, `/docs/${WEIRD}`]);
    expect(names(await sh.run(`findfile '[fs]?[fc]*' --root ${t}`))).toEqual(['/fifo', '/sock']);
  });

  it('stops at --max results and says so; says when nothing matched', async () => {
    const sh = shell();
    const r = await sh.run(`findfile '*' --root ${t} --max 3`);
    expect(r.exitStatus).toBe(0);
    expect(r.output.split('\n').filter(Boolean)).toHaveLength(4);
    expect(r.output).toMatch(/\nStopped at 3 results \(--max 3\); there may be more\.\n$/);
    expect(r.data).toMatchObject({ stoppedAtMax: true });
    expect(await sh.run(`findfile nothing-like-this --root ${t}`)).toMatchObject({ exitStatus: 0, output: `No file named nothing-like-this below ${t}.\n` });
  });

  it('refuses bad arguments and roots it does not search', async () => {
    const sh = shell();
    const usage = 'usage: findfile <name-or-glob> [--root <dir>] [--max N]';
    expect(await sh.run('findfile')).toEqual({ exitStatus: 2, output: `findfile: ${usage}\n` });
    expect(await sh.run('findfile x --max 0')).toEqual({ exitStatus: 2, output: `findfile: --max takes a number from 1 to 100000; ${usage}\n` });
    expect(await sh.run('findfile a/b')).toEqual({ exitStatus: 2, output: `findfile: give a file name or a glob of names, not a path (--root says where to look); ${usage}\n` });
    expect(await sh.run('findfile x --root')).toEqual({ exitStatus: 2, output: `findfile: --root needs a value; ${usage}\n` });
    expect(await sh.run(`findfile x --root ${t}/big.bin`)).toEqual({ exitStatus: 1, output: `findfile: ${t}/big.bin: not a directory\n` });
    expect(await sh.run('findfile cpuinfo --root /proc')).toEqual({ exitStatus: 1, output: 'findfile: /proc: a kernel pseudo file system (/proc, /sys, /dev) is not searched\n' });
  });

  it.each<[string, string, boolean]>([
    ['a.txt', 'a.txt', true],
    ['a.txt', 'aXtxt', false],
    ['*.sh', 'x.sh', true],
    ['*.sh', 'x.sh.bak', false],
    ['?', 'ab', false],
    ['[!a]*', 'abc', false],
    ['[!a]*', 'bc', true],
    ['[a-c]x', 'bx', true],
    ['\\*', '*', true],
    ['\\*', 'x', false],
    ['a(b)|$', 'a(b)|$', true],
    ['[', '[', true],
  ])('glob %j matches %j: %s', (glob, name, want) => {
    expect(nameMatcher(glob)(name)).toBe(want);
  });

  it.each<[string, boolean]>([
    ['/proc', true],
    ['/proc/1/exe', true],
    ['/sys/kernel', true],
    ['/dev/sda', true],
    ['/dev/shm/x', false],
    ['/procx', false],
    ['/home/dev', false],
  ])('%s is in a pseudo file system: %s', (path, want) => {
    expect(inPseudoFileSystem(path)).toBe(want);
  });
});

describe.skipIf(!isRoot)('permission denied, for real (an unprivileged agent)', () => {
  it('ls, fileinfo and findfile say "permission denied" for what the user may not read', async () => {
    // Root reads everything: the session runs in a child as nobody (uid 65534).
    const d = mkdtempSync(join(tmpdir(), 'cordon-live-nobody-'));
    try {
      chmodSync(d, 0o755);
      write(join(d, 'locked/secret'));
      chmodSync(join(d, 'locked'), 0o700);
      write(join(d, 'rootonly.txt'), 'secret\n');
      chmodSync(join(d, 'rootonly.txt'), 0o600);
      const lines = ['ls locked', 'fileinfo rootonly.txt', 'fileinfo locked/secret', 'findfile secret --root .'];
      const script = write(
        join(d, 'run.mts'),
        `import { LiveShell } from ${JSON.stringify(join(import.meta.dirname, '../session.ts'))};\n` +
          `const sh = new LiveShell({ level: 'basic' });\nawait sh.run(${JSON.stringify(`cd ${d}`)});\nconst out = [];\n` +
          `for (const l of ${JSON.stringify(lines)}) out.push(await sh.run(l));\nprocess.stdout.write(JSON.stringify(out));\n`,
      );
      chmodSync(script, 0o644);
      const repo = join(import.meta.dirname, '../../../../..');
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', script], { cwd: repo, uid: 65534, gid: 65534, env: { PATH: process.env.PATH, HOME: d }, timeout: 60_000 });
      const [ls, info, secret, find] = JSON.parse(stdout) as LiveResult[];
      expect(ls).toEqual({ exitStatus: 1, output: `ls: ${d}/locked: permission denied\n` });
      expect(info!.exitStatus).toBe(1);
      expect(info!.data).toMatchObject({ type: 'regular file', size: 7, owner: 'root' });
      expect(info!.output.split('\n').at(-2)).toBe(`fileinfo: ${d}/rootonly.txt: permission denied (no hashes)`);
      expect(secret).toEqual({ exitStatus: 1, output: `fileinfo: ${d}/locked/secret: permission denied\n` });
      expect(find!.output).toBe(`No file named secret below ${d}.\n1 directory could not be read.\n`);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
