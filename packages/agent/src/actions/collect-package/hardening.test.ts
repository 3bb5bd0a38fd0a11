// Security review of the package producer: the agent runs as root and reads places unprivileged
// users control. Each test here plants what such a user could plant and checks root does not copy it.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, closeSync, constants, linkSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, Stats, symlinkSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readZip } from '../../testing/zip.js';
import { autoruns } from './collectors/autoruns.js';
import { walk } from './collectors/common.js';
import { AUDIT_LOG, auditExecve, EXEC_DIRS, recentExecutions } from './collectors/recent-executions.js';
import { utmpFile } from './collectors/security-event-log.js';
import { tempDirectories } from './collectors/temp-directories.js';
import { deviceCollectContext, streamToString } from './context.js';
import { concatFiles, csvField } from './format.js';
import { producePackage, type PackageOptions, type PackageSummary } from './package.js';
import { UTMP_SIZE } from './parsers/utmp.js';
import type { CollectContext, Collector } from './types.js';

const UID = 4242;
const OTHER_UID = 5555;
const SECRET = 'TOP-SECRET-ROOT-ONLY-7f3a9c';
const CREDENTIAL = 'cdc_enrollment-credential-that-must-stay-home';
const isRoot = process.getuid?.() === 0;

let dir: string;
let home: string;
let dataDir: string;
let rootOnly: string;
let passwd: string;
const fifos: string[] = [];

/** A file only root may read (like /etc/shadow). */
function rootFile(path: string, text: string) {
  writeFileSync(path, text, { mode: 0o600 });
}

/** What the unprivileged user owns. */
function userOwned(path: string, uid = UID) {
  chownSync(path, uid, uid);
}

/**
 * The real context, with /etc/passwd naming the fixture's user (so `homes()` finds the fixture
 * home) and the system-wide roots listed in `emptyDirs` reading as empty (so a test walks only
 * the fixture, quickly).
 */
function fixtureContext(emptyDirs: string[] = [], extra: Partial<CollectContext> = {}): PackageOptions['makeContext'] {
  return (o) => {
    const real = deviceCollectContext(o);
    return {
      ...real,
      readText: (p) => (p === '/etc/passwd' ? Promise.resolve(passwd) : real.readText(p)),
      readDir: (p, ro) => (emptyDirs.includes(p) ? Promise.resolve(null) : real.readDir(p, ro)),
      ...extra,
    };
  };
}

async function collectZip(collectors: Collector[], opts: Partial<PackageOptions> = {}): Promise<{ summary: PackageSummary; entries: Map<string, Buffer> }> {
  const zipPath = join(dir, `p-${randomBytes(4).toString('hex')}.zip`);
  const chunks: Buffer[] = [];
  const out = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(c);
      cb();
    },
  });
  const summary = await producePackage(out, { dataDir, collectors, ...opts });
  writeFileSync(zipPath, Buffer.concat(chunks));
  return { summary, entries: await readZip(zipPath) };
}

function expectNoSecrets(entries: Map<string, Buffer>) {
  for (const [name, bytes] of entries) {
    const t = bytes.toString('latin1');
    expect(t.includes(SECRET), `${name} holds the root-only file`).toBe(false);
    expect(t.includes(CREDENTIAL), `${name} holds the credential`).toBe(false);
  }
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-hardening-'));
  // The fixture's own directories are world-searchable so the user's home is a normal home.
  execFileSync('chmod', ['755', dir]);
  dataDir = join(dir, 'agent');
  mkdirSync(dataDir, { mode: 0o700 });
  writeFileSync(join(dataDir, 'enrollment.json'), JSON.stringify({ serverUrl: 'https://cordon.test', machineId: 'm', credential: CREDENTIAL }), { mode: 0o600 });
  rootOnly = join(dir, 'root-only');
  mkdirSync(rootOnly, { mode: 0o700 });
  rootFile(join(rootOnly, 'shadow'), `root:${SECRET}:19000:0:99999:7:::\n`);
  rootFile(join(rootOnly, 'authorized_keys'), `ssh-ed25519 AAAA${SECRET} root@elsewhere\n`);
  rootFile(join(rootOnly, 'evil.desktop'), `[Desktop Entry]\nExec=${SECRET}\n`);
  home = join(dir, 'home', 'mallory');
  mkdirSync(home, { recursive: true, mode: 0o755 });
  userOwned(home);
  passwd = `root:x:0:0:root:/root:/bin/bash\nmallory:x:${UID}:${UID}::${home}:/bin/bash\n`;
});

afterAll(() => {
  // A blocking open() of a FIFO (the bug these tests guard against) is released by a writer.
  for (const f of fifos) {
    try {
      closeSync(openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
    } catch {
      // no reader waiting: nothing to release
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('planted symbolic links are never followed into content', () => {
  it('a history linked to a root-only file or to enrollment.json is listed as a link, not copied', async () => {
    symlinkSync(join(rootOnly, 'shadow'), join(home, '.bash_history'));
    symlinkSync(join(dataDir, 'enrollment.json'), join(home, '.zsh_history'));
    execFileSync('chown', ['-h', `${UID}:${UID}`, join(home, '.bash_history'), join(home, '.zsh_history')]);
    // A hard link (possible where fs.protected_hardlinks is off) and another user's file.
    linkSync(join(rootOnly, 'shadow'), join(home, '.mysql_history'));
    writeFileSync(join(home, '.psql_history'), `select '${SECRET}';\n`);
    userOwned(join(home, '.psql_history'), OTHER_UID);
    // The user's own history is still collected.
    writeFileSync(join(home, '.python_history'), 'print("hello from mallory")\n');
    userOwned(join(home, '.python_history'));

    const { summary, entries } = await collectZip([recentExecutions], { makeContext: fixtureContext(EXEC_DIRS) });
    expectNoSecrets(entries);
    expect(entries.get('Recent executions/History_mallory_.bash_history.txt')!.toString()).toMatch(/symbolic link to .*root-only\/shadow.*not followed/);
    expect(entries.get('Recent executions/History_mallory_.zsh_history.txt')!.toString()).toMatch(/symbolic link to .*enrollment\.json/);
    expect(entries.get('Recent executions/History_mallory_.python_history.txt')!.toString()).toBe('print("hello from mallory")\n');
    const row = (f: string) => summary.points.find((p) => p.file === f);
    expect(row('History_mallory_.mysql_history.txt')).toMatchObject({ status: 'Failed', errorCode: 'UNSAFE_PATH' });
    expect(row('History_mallory_.psql_history.txt')).toMatchObject({ status: 'Failed', errorCode: 'UNSAFE_PATH' });
  });

  it('~/.config/autostart, ~/.config/systemd/user and ~/.ssh linked to root-only directories are shown as links', async () => {
    mkdirSync(join(home, '.config', 'systemd'), { recursive: true });
    execFileSync('chown', ['-R', `${UID}:${UID}`, join(home, '.config')]);
    for (const l of ['.config/autostart', '.config/systemd/user', '.ssh']) {
      symlinkSync(rootOnly, join(home, l));
      execFileSync('chown', ['-h', `${UID}:${UID}`, join(home, l)]);
    }
    const { entries } = await collectZip([autoruns], { makeContext: fixtureContext() });
    expectNoSecrets(entries);
    expect(entries.get('Autoruns/XdgAutostart.txt')!.toString()).toContain(`${home}/.config/autostart  (symlink -> ${rootOnly}, not followed`);
    expect(entries.get('Autoruns/SystemdUnitFilesNotFromPackages.txt')!.toString()).toContain(`${home}/.config/systemd/user  (symlink -> ${rootOnly}`);
  });

  it('~/tmp linked to a root-only directory is not walked', async () => {
    symlinkSync(rootOnly, join(home, 'tmp'));
    execFileSync('chown', ['-h', `${UID}:${UID}`, join(home, 'tmp')]);
    const { summary, entries } = await collectZip([tempDirectories], { makeContext: fixtureContext(['/tmp', '/var/tmp', '/dev/shm', '/run/user']) });
    const listing = entries.get('Temp Directories/user_mallory_tmp.csv')!.toString();
    expect(listing).not.toContain('shadow');
    expect(listing).toContain('not followed');
    expect(summary.points.find((p) => p.file === 'user_mallory_tmp.csv')!.status).toBe('NotPresent');
  });

  it('the context refuses links users control but follows root-owned ones', async () => {
    const ctx = deviceCollectContext({ dataDir, deadline: Date.now() + 10_000, signal: new AbortController().signal });
    await expect(ctx.readText(join(home, '.bash_history'))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    // Through a planted directory link, the last component being a plain file.
    await expect(ctx.readText(join(home, '.ssh', 'authorized_keys'))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    await expect(ctx.sha256(join(home, '.ssh', 'authorized_keys'))).rejects.toMatchObject({ code: 'UNSAFE_PATH' });
    expect(await ctx.readDir(join(home, '.ssh'))).toBeNull();
    expect(await ctx.lstat(join(home, '.ssh', 'authorized_keys'))).toBeNull();
    expect((await ctx.stat(join(home, '.ssh')))!.isSymbolicLink()).toBe(true);
    // Root-owned links in root-owned directories: /proc/self, /proc/net.
    expect(await ctx.readText('/proc/self/mounts')).toMatch(/ \/ /);
    expect(await ctx.readText('/proc/net/dev')).toContain('lo:');
    const rootLink = join(dir, 'root-link');
    symlinkSync(join(dataDir, 'enrollment.json'), rootLink);
    expect(await ctx.readText(rootLink)).toContain('serverUrl');
  });
});

describe('the enrollment credential never leaves the device', () => {
  it('is scrubbed from every entry the producer writes, also when split across chunks', async () => {
    const leaky: Collector = {
      folder: 'Leaky',
      name: 'leaky',
      source: 'test',
      timeoutMs: 10_000,
      maxBytes: 1024 * 1024,
      async *collect() {
        yield { name: 'whole.txt', source: 'x', content: `a core dump quoting ${CREDENTIAL} twice ${CREDENTIAL}\n` };
        const half = CREDENTIAL.length >> 1;
        yield { name: 'split.txt', source: 'x', content: Readable.from([Buffer.from(`before ${CREDENTIAL.slice(0, half)}`), Buffer.from(`${CREDENTIAL.slice(half)} after ${CREDENTIAL.slice(0, 3)}`)]) };
        throw new Error(`could not read ${CREDENTIAL}`);
      },
    };
    const { summary, entries } = await collectZip([leaky]);
    expectNoSecrets(entries);
    expect(entries.get('Leaky/whole.txt')!.toString()).toBe('a core dump quoting [REDACTED] twice [REDACTED]\n');
    expect(entries.get('Leaky/split.txt')!.toString()).toBe(`before [REDACTED] after ${CREDENTIAL.slice(0, 3)}`);
    expect(JSON.stringify(summary.points)).not.toContain(CREDENTIAL);
  });
});

describe.skipIf(!isRoot)('tree walks', () => {
  it('a FIFO in a temp directory never hangs the collector, even when swapped in after lstat', async () => {
    const tmp = join(dir, 'home', 'mallory-fifo');
    mkdirSync(join(tmp, 'tmp'), { recursive: true });
    for (const f of ['pipe', 'swapped']) {
      execFileSync('mkfifo', [join(tmp, 'tmp', f)]);
      fifos.push(join(tmp, 'tmp', f));
    }
    execFileSync('chown', ['-R', `${UID}:${UID}`, tmp]);
    const swapped = join(tmp, 'tmp', 'swapped');
    const saved = passwd;
    passwd = `fifo:x:${UID}:${UID}::${tmp}:/bin/sh\n`;
    try {
      // `swapped` looks like an executable regular file to lstat (the FIFO replaced it right after).
      const makeContext: PackageOptions['makeContext'] = (o) => {
        const base = fixtureContext(['/tmp', '/var/tmp', '/dev/shm', '/run/user'])!(o);
        return {
          ...base,
          lstat: async (p) => {
            const st = await base.lstat(p);
            return p === swapped && st ? Object.assign(Object.create(Stats.prototype) as Stats, st, { mode: 0o100755, size: 4096 }) : st;
          },
        };
      };
      const { summary, entries } = await collectZip([tempDirectories], { makeContext, collectorTimeoutMs: 3_000 });
      // A FIFO that hung the walk would end the collector TimedOut, not Succeeded.
      expect(summary.points.find((p) => p.file === 'user_fifo_tmp.csv')).toMatchObject({ status: 'Succeeded' });
      const csv = entries.get('Temp Directories/user_fifo_tmp.csv')!.toString();
      expect(csv).toMatch(/\/pipe,fifo,0,fifo,644,[^,]+,no,\n/);
      expect(csv).toMatch(/\/swapped,file,4096,fifo,755,[^,]+,yes,\n/); // listed, never hashed
    } finally {
      passwd = saved;
    }
  });

  it('does not cross into another file system', async () => {
    const root = join(dir, 'walk');
    mkdirSync(join(root, 'mnt', 'inside'), { recursive: true });
    mkdirSync(join(root, 'same', 'below'), { recursive: true });
    const real = deviceCollectContext({ dataDir, deadline: Date.now() + 10_000, signal: new AbortController().signal });
    // `mnt` answers like a mount point: another device number.
    const ctx: CollectContext = {
      ...real,
      lstat: async (p) => {
        const st = await real.lstat(p);
        return p === join(root, 'mnt') && st ? Object.assign(Object.create(Stats.prototype) as Stats, st, { dev: st.dev + 1 }) : st;
      },
    };
    const seen: string[] = [];
    for await (const e of walk(ctx, root, { maxDepth: 5, maxEntries: 100 })) seen.push(e.path.slice(root.length));
    expect(seen.sort()).toEqual(['/mnt', '/same', '/same/below']);
  });
});

describe('large files are read up to their cap, never whole', () => {
  const BIG = 512 * 1024 * 1024;

  /**
   * Bytes this process read (every thread, from /proc/self/io) while `f` runs: what "never whole"
   * means, measured by the kernel. (A memory figure belongs to bench/package.bench.ts.)
   */
  async function bytesRead(f: () => Promise<void>): Promise<number> {
    const rchar = () => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
    const before = rchar();
    await f();
    return rchar() - before;
  }

  function utmpRecord(user: string, host: string, sec: number): Buffer {
    const r = Buffer.alloc(UTMP_SIZE);
    r.writeInt16LE(6, 0); // LOGIN_PROCESS: a failed login in btmp
    r.writeInt32LE(4321, 4);
    r.write('ssh:notty', 8);
    r.write(user, 44);
    r.write(host, 76);
    r.writeInt32LE(sec, 340);
    return r;
  }

  it('a 512 MB (sparse) btmp is streamed from its newest records and marked Truncated', async () => {
    const btmp = join(dir, 'btmp');
    const size = Math.floor(BIG / UTMP_SIZE) * UTMP_SIZE; // whole records, as glibc writes them
    writeFileSync(btmp, utmpRecord('oldest', '198.51.100.1', 1_600_000_000));
    truncateSync(btmp, size);
    const fd = openSync(btmp, 'r+');
    writeSync(fd, utmpRecord('newest', '203.0.113.7', 1_700_000_000), 0, UTMP_SIZE, size - UTMP_SIZE);
    closeSync(fd);
    const c: Collector = {
      folder: 'Security event log',
      name: 'btmp',
      source: 'test',
      timeoutMs: 20_000,
      maxBytes: 50 * 1024 * 1024,
      async *collect(ctx) {
        yield await utmpFile(ctx, 'Btmp.csv', [btmp]);
      },
    };
    let result: { summary: PackageSummary; entries: Map<string, Buffer> } | undefined;
    const read = await bytesRead(async () => {
      result = await collectZip([c]);
    });
    expect(read).toBeLessThan(BIG / 4);
    expect(result!.summary.points[0]).toMatchObject({ file: 'Btmp.csv', status: 'Truncated', errorCode: 'SourceSizeCap' });
    const csv = result!.entries.get('Security event log/Btmp.csv')!.toString();
    expect(csv).toContain('2023-11-14T22:13:20.000Z,LOGIN_PROCESS,newest,ssh:notty,203.0.113.7');
    expect(csv).not.toContain('oldest');
  });

  it('concatFiles and the audit log read only their cap of a 512 MB (sparse) file', async () => {
    const big = join(dir, 'big.conf');
    writeFileSync(big, 'first line\n');
    truncateSync(big, BIG);
    const audit = join(dir, 'audit.log');
    writeFileSync(audit, 'type=EXECVE msg=audit(1.0:1): the oldest record\n');
    truncateSync(audit, BIG);
    const line = 'type=EXECVE msg=audit(1700000000.123:42): argc=2 a0="curl" a1="http://203.0.113.9/x"\n';
    const fd = openSync(audit, 'r+');
    writeSync(fd, `\n${line}`, BIG - line.length - 1);
    closeSync(fd);
    const ctx = deviceCollectContext({ dataDir, deadline: Date.now() + 20_000, signal: new AbortController().signal });
    let text = '';
    let execve = '';
    let status: string | undefined;
    const read = await bytesRead(async () => {
      text = (await concatFiles(ctx, [big], { maxFileBytes: 4096 }))!.text;
      const f = (await auditExecve(ctx, audit, 8 * 1024 * 1024))!;
      status = f.status;
      execve = await streamToString(Readable.from(f.content as AsyncIterable<string>));
    });
    expect(read).toBeLessThan(BIG / 16);
    expect(text).toContain('first line');
    expect(text).toContain(`(... ${BIG - 4096} more bytes not shown)`);
    expect(status).toBe('Truncated');
    expect(execve).toBe(line);
    expect(AUDIT_LOG).toBe('/var/log/audit/audit.log');
  });
});

describe('CSV cells stay exactly as collected (evidence), quoted per RFC 4180 only', () => {
  it.each([
    ['@daily (run-parts)', '@daily (run-parts)'],
    ['=cmd|"/c calc"!A1', '"=cmd|""/c calc""!A1"'],
    ['+1+1', '+1+1'],
    ['-2+3', '-2+3'],
    ['\t=1', '\t=1'],
    ['\r=1', '"\r=1"'],
    ['a,b', '"a,b"'],
    ['two\nlines', '"two\nlines"'],
    ['plain', 'plain'],
  ])('%j -> %j', (input, out) => {
    expect(csvField(input)).toBe(out);
  });

  it('leaves numbers as numbers', () => {
    expect(csvField(-1)).toBe('-1');
    expect(csvField(42)).toBe('42');
  });
});

describe('time spent waiting for a slow consumer is not the collector\'s', () => {
  it('a fast collector behind a slow upload still succeeds', async () => {
    const data = randomBytes(2 * 1024 * 1024); // incompressible: the zip is as big as the data
    const c: Collector = {
      folder: 'Fast',
      name: 'fast',
      source: 'test',
      timeoutMs: 300,
      maxBytes: 8 * 1024 * 1024,
      async *collect() {
        yield { name: 'data.bin', source: 'x', content: data };
        yield { name: 'after.txt', source: 'x', content: 'still collected\n' };
      },
    };
    let written = 0;
    let writes = 0;
    const out = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _e, cb) {
        written += chunk.length;
        // A slow upload: the first write alone is held longer than the collector's 300 ms, so the
        // collector's time surely ran out while it waited, whatever the machine's speed.
        setTimeout(cb, writes++ === 0 ? 700 : 1);
      },
    });
    const s = await producePackage(out, { dataDir: '/nonexistent', collectors: [c] });
    expect(s.points.map((p) => [p.file, p.status])).toEqual([
      ['data.bin', 'Succeeded'],
      ['after.txt', 'Succeeded'],
    ]);
    expect(written).toBeGreaterThan(data.length);
  });
});
