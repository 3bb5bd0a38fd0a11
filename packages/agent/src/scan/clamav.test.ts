import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFile, mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { linuxProcesses } from '../platform/linux/processes.js';
import { createSafeFiles } from '../platform/linux/safe-files.js';
import { ClamAvEngine, parseClamdConf, parseClamscanOutput, parseClamSize, probeClamAv, type ClamAvAvailable } from './clamav.js';

const installed = (program: string) => spawnSync(program, ['--version']).status === 0;
const hasClamscan = installed('clamscan');
const hasClamd = installed('clamd');

// Built from two halves at run time: the repository holds no EICAR file for a scanner to trip on.
const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR' + '-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*');
const CLEAN = Buffer.from('nothing to see here\n');
const MB = 2 ** 20;
const files = createSafeFiles();

let root: string;
let ndbDir: string;
let hsbDir: string;
let emptyDir: string;
const clamds: ChildProcess[] = [];

/** Starts a clamd of the test's own (socket in the temp dir, no TCP, no User: it stays root) and waits until it answers. */
async function startClamd(name: string, databaseDir: string, limits = '2000M'): Promise<{ conf: string; socket: string; child: ChildProcess }> {
  const dir = join(root, `clamd-${name}`);
  await mkdir(dir);
  const socket = join(dir, 'clamd.sock');
  const conf = join(dir, 'clamd.conf');
  await writeFile(
    conf,
    [
      `LocalSocket ${socket}`,
      `DatabaseDirectory ${databaseDir}`,
      `TemporaryDirectory ${dir}`,
      'Foreground yes',
      `StreamMaxLength ${limits}`,
      `MaxFileSize ${limits}`,
      `MaxScanSize ${limits}`,
      'AlertExceedsMax yes',
      '',
    ].join('\n'),
  );
  const child = spawn('clamd', ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  clamds.push(child);
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const probe = await probeClamAv({ clamdConfig: conf, databaseDir: emptyDir }, linuxProcesses);
    if ('engine' in probe && probe.engine === 'clamd') return { conf, socket, child };
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`clamd did not come up: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function clamdEngine(conf: string, opts: { maxFileBytes?: number } = {}): Promise<ClamAvEngine> {
  const probe = await probeClamAv({ clamdConfig: conf, databaseDir: emptyDir }, linuxProcesses);
  if (!('engine' in probe)) throw new Error(probe.unavailable);
  return new ClamAvEngine(probe, { maxFileBytes: opts.maxFileBytes ?? 1024 * MB, files });
}

async function clamscanEngine(databaseDir: string, opts: { maxFileBytes?: number } = {}): Promise<ClamAvEngine> {
  const probe = await probeClamAv({ databaseDir, clamdConfig: join(root, 'no-clamd.conf'), clamdSocket: join(root, 'no.sock') }, linuxProcesses);
  if (!('engine' in probe)) throw new Error(probe.unavailable);
  return new ClamAvEngine(probe, { maxFileBytes: opts.maxFileBytes ?? 1024 * MB, files });
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cordon-clamav-'));
  ndbDir = join(root, 'db-ndb');
  hsbDir = join(root, 'db-hsb');
  emptyDir = join(root, 'db-empty');
  await Promise.all([mkdir(ndbDir), mkdir(hsbDir), mkdir(emptyDir), mkdir(join(root, 'files'))]);
  await writeFile(join(ndbDir, 'cordon.ndb'), `Cordon.Test.Eicar.Pattern:0:*:${EICAR.toString('hex')}\n`);
  const sha256 = createHash('sha256').update(EICAR).digest('hex');
  await writeFile(join(hsbDir, 'cordon.hsb'), `${sha256}:${EICAR.length}:Cordon.Test.Eicar.Hash\n`);
  // An ignore list detects nothing: a directory with only that has no database.
  await writeFile(join(emptyDir, 'local.ign2'), 'Nothing.At.All\n');
});

afterAll(async () => {
  // Never leave a clamd running.
  await Promise.all(
    clamds.map(async (c) => {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await gone;
      }
    }),
  );
  if (root) await rm(root, { recursive: true, force: true });
});

/** Writes test files under root/files/<dir>; answers their paths by name. */
async function plant(dir: string, content: Record<string, Buffer>): Promise<Record<string, string>> {
  const base = join(root, 'files', dir);
  await mkdir(base, { recursive: true });
  const out: Record<string, string> = {};
  for (const [name, bytes] of Object.entries(content)) {
    out[name] = join(base, name);
    await writeFile(out[name], bytes);
  }
  return out;
}

describe('parsing', () => {
  test('clamd.conf keys and sizes', () => {
    const conf = parseClamdConf('# LocalSocket /commented\nLocalSocket /run/clamav/clamd.ctl\nStreamMaxLength 25M\n  MaxFileSize  2000M \n');
    expect(conf.get('LocalSocket')).toBe('/run/clamav/clamd.ctl');
    expect(parseClamSize(conf.get('StreamMaxLength')!)).toBe(25 * MB);
    expect(parseClamSize(conf.get('MaxFileSize')!)).toBe(2000 * MB);
    expect(parseClamSize('512k')).toBe(512 * 1024);
    expect(parseClamSize('lots')).toBeNull();
  });

  test("clamscan lines are matched against the requested paths, ': ' and newlines included", () => {
    const paths = ['/t/a', '/t/a: b', '/t/new\nline: c', '/t/ok'];
    const text = '/t/a: b: Sig.One FOUND\n/t/new\nline: c: Sig.Two FOUND\n/t/ok: OK\nLibClamAV noise\n/t/a: No such file or directory\n';
    const lines = parseClamscanOutput(text, paths);
    expect(lines.get('/t/a: b')).toEqual(['Sig.One FOUND']);
    expect(lines.get('/t/new\nline: c')).toEqual(['Sig.Two FOUND']);
    expect(lines.get('/t/ok')).toEqual(['OK']);
    expect(lines.get('/t/a')).toEqual(['No such file or directory']);
    expect(parseClamscanOutput('WARNING: /t/a: Can\'t access file\n', paths, 'WARNING: ').get('/t/a')).toEqual(["Can't access file"]);
  });
});

describe.skipIf(!hasClamscan)('probe', () => {
  test('no database: unavailable, and says why', async () => {
    const probe = await probeClamAv({ databaseDir: emptyDir, clamdConfig: join(root, 'no-clamd.conf'), clamdSocket: join(root, 'no.sock') }, linuxProcesses);
    expect(probe).toEqual({ unavailable: expect.stringContaining(`no ClamAV database in ${emptyDir}`) });
    expect('unavailable' in probe && probe.unavailable).toContain(join(root, 'no.sock'));
  });

  test('a database and no clamd: clamscan', async () => {
    const probe = await probeClamAv({ databaseDir: ndbDir, clamdConfig: join(root, 'no-clamd.conf'), clamdSocket: join(root, 'no.sock') }, linuxProcesses);
    expect(probe).toEqual({ engine: 'clamscan', databaseDir: ndbDir, version: expect.stringMatching(/^ClamAV \d+\.\d+/) });
  });

  test.skipIf(!hasClamd)("finds clamd's socket and limits in its clamd.conf", async () => {
    const { conf, socket } = await startClamd('probe', ndbDir, '300M');
    const probe = await probeClamAv({ clamdConfig: conf }, linuxProcesses);
    // clamscan falls back on clamd's own database directory for what clamd will not take.
    expect(probe).toEqual({ engine: 'clamd', socket, version: expect.stringMatching(/^ClamAV \d+\.\d+/), maxStreamBytes: 300 * MB, fallbackDatabaseDir: ndbDir });
  });
});

describe.each([
  { engine: 'clamscan', skip: !hasClamscan },
  { engine: 'clamd', skip: !hasClamd },
])('$engine', ({ engine, skip }) => {
  const make = async (db: 'ndb' | 'hsb') => {
    const dir = db === 'ndb' ? ndbDir : hsbDir;
    return engine === 'clamd' ? clamdEngine((await startClamd(`${engine}-${db}`, dir)).conf) : clamscanEngine(dir);
  };
  const engines = new Map<string, Promise<ClamAvEngine>>();
  const engineFor = (db: 'ndb' | 'hsb') => {
    if (!engines.has(db)) engines.set(db, make(db));
    return engines.get(db)!;
  };

  test.skipIf(skip).each(['ndb', 'hsb'] as const)('EICAR through a .%s database; clean files, odd names and a missing file', async (db) => {
    const clam = await engineFor(db);
    expect(clam.available.engine).toBe(engine);
    const p = await plant(`${engine}-${db}`, { 'eicar.com': EICAR, 'clean.txt': CLEAN, 'with space: and colon.com': EICAR, 'with space: and colon': CLEAN, 'new\nline: x.com': EICAR, 'empty': Buffer.alloc(0) });
    const missing = join(root, 'files', 'gone.com');
    const paths = [...Object.values(p), missing];
    const result = await clam.scanFiles(paths);
    const name = db === 'ndb' ? 'Cordon.Test.Eicar.Pattern' : 'Cordon.Test.Eicar.Hash';
    const expected = expect.arrayContaining([expect.stringContaining(name)]);
    expect(Object.fromEntries(result.found)).toEqual({ [p['eicar.com']!]: expected, [p['with space: and colon.com']!]: expected, [p['new\nline: x.com']!]: expected });
    expect([...result.problems.keys()]).toEqual([missing]);
    expect(result.problems.get(missing)).toMatch(/no such file/i);

    expect(await clam.scanBuffer(EICAR, 'member.com')).toEqual([expect.stringContaining(name)]);
    expect(await clam.scanBuffer(CLEAN, 'member.txt')).toEqual([]);
  });

  test.skipIf(skip)('a file over 100 MB with the pattern at its end is detected', async () => {
    const clam = await engineFor('ndb');
    const big = join(root, 'files', `${engine}-big.bin`);
    // Sparse: 150 MB of zeros costs no disk and little time.
    await writeFile(big, '');
    await truncate(big, 150 * MB);
    await appendFile(big, EICAR);
    const result = await clam.scanFiles([big]);
    expect(result.found.get(big)).toEqual([expect.stringContaining('Cordon.Test.Eicar.Pattern')]);
    expect(result.problems.size).toBe(0);
  }, 60_000);

  test.skipIf(skip)("a file over the scanner's limit is a problem, not a clean file", async () => {
    const clam = engine === 'clamd' ? await engineFor('ndb') : await clamscanEngine(ndbDir, { maxFileBytes: MB });
    const over = join(root, 'files', `${engine}-over.bin`);
    await writeFile(over, '');
    await truncate(over, 2 * MB);
    await appendFile(over, EICAR);
    const small = engine === 'clamd' ? new ClamAvEngine(clam.available, { maxFileBytes: MB, files }) : clam;
    const result = await small.scanFiles([over]);
    expect(result.found.size).toBe(0);
    expect(result.problems.get(over)).toMatch(/Limits\.Exceeded|larger than/);
    await expect(small.scanBuffer(Buffer.alloc(2 * MB), 'member.bin')).rejects.toThrow(/larger than/);
  });

  test.skipIf(skip)('a cancelled scan stops within a second', async () => {
    const clam = await engineFor('ndb');
    const big = join(root, 'files', `${engine}-cancel.bin`);
    await writeFile(big, '');
    await truncate(big, 900 * MB);
    const ac = new AbortController();
    const scan = clam.scanFiles([big], ac.signal);
    setTimeout(() => ac.abort(), 200);
    const started = Date.now();
    await expect(scan).rejects.toThrow(/abort/i);
    expect(Date.now() - started).toBeLessThan(1200);
  });
});

describe.skipIf(!hasClamd || !hasClamscan)('clamd with a smaller stream limit', () => {
  test('what clamd refuses (INSTREAM size limit exceeded) goes to clamscan and is still detected', async () => {
    const { conf, socket } = await startClamd('small', ndbDir, '1M');
    const probe = await probeClamAv({ clamdConfig: conf }, linuxProcesses);
    expect(probe).toMatchObject({ engine: 'clamd', maxStreamBytes: MB, fallbackDatabaseDir: ndbDir });
    const p = await plant('small', { 'small.com': EICAR });
    const big = join(root, 'files', 'small', 'big.bin');
    await writeFile(big, Buffer.concat([Buffer.alloc(3 * MB), EICAR]));
    // As if clamd's limits were unknown (a clamd.conf that is not its own): clamd refuses mid-stream.
    const unaware: ClamAvAvailable = { engine: 'clamd', socket, version: 'ClamAV', maxStreamBytes: 2000 * MB, fallbackDatabaseDir: ndbDir };
    for (const available of [probe as ClamAvAvailable, unaware]) {
      const clam = new ClamAvEngine(available, { maxFileBytes: 1024 * MB, files });
      const result = await clam.scanFiles([p['small.com']!, big]);
      expect(Object.fromEntries(result.found)).toEqual({ [p['small.com']!]: [expect.stringContaining('Cordon.Test.Eicar')], [big]: [expect.stringContaining('Cordon.Test.Eicar')] });
      expect(result.problems.size).toBe(0);
      expect(await clam.scanBuffer(Buffer.concat([Buffer.alloc(3 * MB), EICAR]), 'member.bin')).toEqual([expect.stringContaining('Cordon.Test.Eicar')]);
    }
    // With no database for clamscan, it is a problem, never a silent pass.
    const alone = new ClamAvEngine({ ...unaware, fallbackDatabaseDir: null }, { maxFileBytes: 1024 * MB, files });
    const result = await alone.scanFiles([big]);
    expect(result.found.size).toBe(0);
    expect(result.problems.get(big)).toMatch(/larger than clamd accepts/);
  });
});

describe.skipIf(!hasClamd)('clamd gone', () => {
  test('a clamd that stopped fails the scan (an engine fault), not each file', async () => {
    const { conf, child } = await startClamd('gone', ndbDir);
    const clam = await clamdEngine(conf);
    const p = await plant('gone', { 'a.txt': CLEAN, 'b.txt': CLEAN });
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
    await expect(clam.scanFiles(Object.values(p))).rejects.toThrow(/clamd at .*clamd\.sock/);
  });
});

describe.skipIf(!hasClamd || !hasClamscan)('throughput', () => {
  test('2,000 small files: clamscan in one batch vs clamd INSTREAM', async () => {
    const content: Record<string, Buffer> = {};
    for (let i = 0; i < 2000; i++) content[`f${i}.txt`] = i % 100 === 0 ? Buffer.concat([Buffer.from(`file ${i}\n`), EICAR]) : Buffer.from(`file ${i}\n`.repeat(200));
    const paths = Object.values(await plant('many', content));
    const { conf } = await startClamd('many', ndbDir);
    const rates: Record<string, number> = {};
    for (const [label, clam] of [
      ['clamscan', await clamscanEngine(ndbDir)],
      ['clamd', await clamdEngine(conf)],
    ] as const) {
      const started = performance.now();
      const result = await clam.scanFiles(paths);
      rates[label] = Math.round(paths.length / ((performance.now() - started) / 1000));
      expect(result.found.size).toBe(20);
      expect(result.problems.size).toBe(0);
    }
    console.log(`ClamAV, 2,000 files of 2 KB: clamscan batch ${rates.clamscan} files/s, clamd INSTREAM ${rates.clamd} files/s`);
  }, 120_000);
});
