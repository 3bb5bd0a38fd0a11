import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import yazl from 'yazl';
import type { IndicatorEntry } from '@cordon/protocol';
import { BUILT_IN_RULEPACK } from '@cordon/protocol';
import { builtInRules, compileRules } from '@cordon/protocol/yara';
import type { ScanRoot } from '../platform/types.js';
import { currentPlatform } from '../platform/index.js';
import { ClamAvEngine, probeClamAv } from './clamav.js';
import { FileHashIndicators } from './hash-indicators.js';
import { CpuPacer } from './pacer.js';
import { DEFAULT_SCAN_LIMITS, Scanner, type Detection, type IndexedFile, type ScanLimits } from './scanner.js';

// Built at run time from two halves: the repository holds no EICAR file.
const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-' + 'ANTIVIRUS-TEST-FILE!$H+H*');
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-scanner-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const rules = () => ({ ...compileRules([{ name: BUILT_IN_RULEPACK, source: builtInRules() }, { name: 'team', source: 'rule Team_Marker { meta: severity = "High" category = "Execution" mitre = "T1059.004" strings: $a = "team-marker-7f3a" condition: $a }' }]), packs: [{ name: 'team', version: 1 }], contentVersion: 1 });
const root = (path: string): ScanRoot => ({ path, why: 'temp', recursive: true });

async function scan(path: string, opts: { indicators?: IndicatorEntry[]; limits?: Partial<ScanLimits>; signal?: AbortSignal; cap?: number; clamav?: ClamAvEngine; onFile?: () => void; workerModule?: URL } = {}) {
  const detections: Detection[] = [];
  const indexed: IndexedFile[] = [];
  const pacer = new CpuPacer(opts.cap ?? 1, 2, () => {
    const u = process.cpuUsage();
    return u.user + u.system;
  });
  const scanner = new Scanner({ rules: rules(), indicators: new FileHashIndicators(opts.indicators ?? []), pacer, limits: { ...DEFAULT_SCAN_LIMITS, ...opts.limits }, onDetection: (d) => detections.push(d), onFile: (f) => (indexed.push(f), opts.onFile?.()), ...(opts.clamav ? { clamav: { engine: opts.clamav, batchFiles: 3 } } : {}), ...(opts.workerModule ? { workerModule: opts.workerModule } : {}) });
  const outcome = await scanner.run([root(path)], { signal: opts.signal ?? new AbortController().signal });
  return { outcome, detections, indexed, pacer };
}

function zip(entries: [string, Buffer][]): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const z = new yazl.ZipFile();
    for (const [name, data] of entries) z.addBuffer(data, name);
    z.end();
    const chunks: Buffer[] = [];
    z.outputStream.on('data', (c: Buffer) => chunks.push(c)).on('end', () => resolve(Buffer.concat(chunks))).on('error', reject);
  });
}

async function tarGz(entries: [string, Buffer][]): Promise<Buffer> {
  const p = pack();
  for (const [name, data] of entries) p.entry({ name }, data);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return gzipSync(Buffer.concat(chunks));
}

describe('Scanner', () => {
  it('finds EICAR as a file, inside a zip, inside a tar.gz and at the end of a 200 MB file, with hashes, owner and the rule that matched', async () => {
    const d = join(dir, 'planted');
    mkdirSync(join(d, 'sub'), { recursive: true });
    writeFileSync(join(d, 'eicar.com'), EICAR);
    writeFileSync(join(d, 'sub', 'bundle.zip'), await zip([['readme.txt', Buffer.from('hello')], ['inner/eicar.txt', EICAR]]));
    writeFileSync(join(d, 'sub', 'logs.tar.gz'), await tarGz([['a.log', Buffer.from('plain log')], ['x/eicar.bin', EICAR]]));
    const big = join(d, 'big.img');
    const fd = openSync(big, 'w');
    writeSync(fd, EICAR, 0, EICAR.length, 200 * 1024 * 1024);
    closeSync(fd);
    writeFileSync(join(d, 'clean.txt'), 'nothing here');

    const { outcome, detections, indexed } = await scan(d);
    expect(detections.map((x) => x.path).sort()).toEqual([big, join(d, 'eicar.com'), `${join(d, 'sub', 'bundle.zip')}!inner/eicar.txt`, `${join(d, 'sub', 'logs.tar.gz')}!x/eicar.bin`].sort());
    const plain = detections.find((x) => x.path === join(d, 'eicar.com'))!;
    expect(plain).toMatchObject({ engine: 'YARA', threat: 'EICAR_Test_File', source: BUILT_IN_RULEPACK, severity: 'Informational', hashes: { sha256: sha256(EICAR), md5: createHash('md5').update(EICAR).digest('hex') }, size: EICAR.length, uid: 0 });
    const member = detections.find((x) => x.path.endsWith('!inner/eicar.txt'))!;
    expect(member.memberSha256).toBe(sha256(EICAR));
    expect(outcome).toMatchObject({ cancelled: false, files: 5, members: 4, detections: 4, skipped: 0 });
    expect(outcome.bytes).toBeGreaterThan(200 * 1024 * 1024);
    expect(indexed.find((f) => f.path === join(d, 'eicar.com'))).toMatchObject({ sha256: sha256(EICAR), sha1: createHash('sha1').update(EICAR).digest('hex') });
  }, 60_000);

  it('finds a hash indicator and an uploaded rule; an Allowed hash is never a detection; a clean tree gives none', async () => {
    const d = join(dir, 'indicators');
    mkdirSync(d);
    const bad = Buffer.from('a perfectly ordinary looking file');
    writeFileSync(join(d, 'tool'), bad);
    writeFileSync(join(d, 'script.sh'), '#!/bin/sh\necho team-marker-7f3a\n');
    writeFileSync(join(d, 'allowed-eicar'), Buffer.concat([EICAR, Buffer.from(' allowed')]));
    const entry = (type: string, value: string, action: string): IndicatorEntry => ({ id: '7', value, type, action, severity: 'High', title: 'dropper', generateAlert: true, expirationTime: null });
    const { detections } = await scan(d, { indicators: [entry('FileSha256', sha256(bad), 'AlertAndBlock'), entry('FileSha256', sha256(Buffer.concat([EICAR, Buffer.from(' allowed')])), 'Allowed')] });
    expect(detections.map((x) => [x.path.slice(d.length + 1), x.engine, x.threat, x.source, x.severity]).sort()).toEqual([
      ['script.sh', 'YARA', 'Team_Marker', 'team', 'High'],
      ['tool', 'Indicator', 'dropper', 'indicator 7', 'High'],
    ]);
    expect(detections.find((x) => x.threat === 'Team_Marker')).toMatchObject({ category: 'Execution', mitre: ['T1059.004'] });

    const clean = join(dir, 'clean');
    mkdirSync(clean);
    for (let i = 0; i < 50; i++) writeFileSync(join(clean, `f${i}.txt`), `file ${i}\n`.repeat(i + 1));
    const r = await scan(clean);
    expect(r.outcome).toMatchObject({ files: 50, detections: 0, skipped: 0 });
  });

  it("adds ClamAV's detections (clamscan with a database the test writes), in batches, one detection per engine", async () => {
    const d = join(dir, 'clam');
    const db = join(dir, 'clam-db');
    mkdirSync(d);
    mkdirSync(db);
    const marked = Buffer.from('a file only a ClamAV signature knows: cordon-clam-7e21');
    writeFileSync(join(db, 'test.ndb'), `Cordon.Test.Marker:0:*:${Buffer.from('cordon-clam-7e21').toString('hex')}\n`);
    writeFileSync(join(db, 'test.hsb'), `${sha256(EICAR)}:${EICAR.length}:Cordon.Test.Eicar.Hash\n`);
    writeFileSync(join(d, 'eicar.com'), EICAR);
    writeFileSync(join(d, 'marked.txt'), marked);
    for (let i = 0; i < 5; i++) writeFileSync(join(d, `clean${i}`), `clean ${i}`);
    const probe = await probeClamAv({ databaseDir: db, clamdSocket: join(db, 'no-clamd.sock'), clamdConfig: join(db, 'no-clamd.conf') }, currentPlatform().processes);
    expect(probe).toMatchObject({ engine: 'clamscan', databaseDir: db });
    if ('unavailable' in probe) return;
    const { detections, outcome } = await scan(d, { clamav: new ClamAvEngine(probe, { maxFileBytes: DEFAULT_SCAN_LIMITS.maxFileBytes, files: currentPlatform().files() }) });
    expect(detections.map((x) => [x.engine, x.threat, x.path.slice(d.length + 1)]).sort()).toEqual([
      ['ClamAV', 'Cordon.Test.Eicar.Hash.UNOFFICIAL', 'eicar.com'],
      ['ClamAV', 'Cordon.Test.Marker.UNOFFICIAL', 'marked.txt'],
      ['YARA', 'EICAR_Test_File', 'eicar.com'],
    ]);
    expect(detections.find((x) => x.threat === 'Cordon.Test.Marker.UNOFFICIAL')).toMatchObject({ severity: 'High', source: expect.stringMatching(/^ClamAV \d/), hashes: { sha256: sha256(marked) } });
    expect(outcome.clamav).toEqual({ files: 7, problems: 0, problemList: [] });
  }, 30_000);

  it('lists files over the size limit and unreadable ones as skipped, never reads a FIFO and never follows a link', async () => {
    const d = join(dir, 'skips');
    mkdirSync(d);
    writeFileSync(join(d, 'large.bin'), Buffer.alloc(4096));
    execFileSync('mkfifo', [join(d, 'pipe')]);
    symlinkSync('/etc/shadow', join(d, 'link'));
    const { outcome } = await scan(d, { limits: { maxFileBytes: 1024 } });
    expect(outcome.skippedList).toEqual([{ path: join(d, 'large.bin'), reason: 'TooLarge', detail: '4096 bytes; the limit is 1024' }]);
    expect(outcome.walk).toMatchObject({ special: 1, links: 1 });
  });

  it('stops within a second when cancelled, mid-scan', async () => {
    const d = join(dir, 'many');
    mkdirSync(d);
    const chunk = Buffer.alloc(4 * 1024 * 1024, 7);
    for (let i = 0; i < 60; i++) writeFileSync(join(d, `f${i}`), chunk);
    const ac = new AbortController();
    let abortedAt = 0;
    let scheduled = false;
    // Once the workers are scanning (the first file is done), not while they start.
    const onFile = () => {
      if (scheduled) return;
      scheduled = true;
      setTimeout(() => ((abortedAt = performance.now()), ac.abort()), 100);
    };
    const { outcome } = await scan(d, { signal: ac.signal, cap: 0.25, onFile });
    expect(outcome.cancelled).toBe(true);
    expect(abortedAt).toBeGreaterThan(0);
    expect(performance.now() - abortedAt).toBeLessThan(1000);
    expect(outcome.files).toBeLessThan(60);
  });

  it('fails with the reason, and nothing unhandled, when its worker threads keep dying', async () => {
    const d = join(dir, 'dying');
    mkdirSync(d);
    for (let i = 0; i < 300; i++) writeFileSync(join(d, `f${i}`), `file ${i}`);
    // A worker that starts, then dies on the first file it is given (as a crash in native code would).
    const module = join(dir, 'dying-worker.mjs');
    writeFileSync(module, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => process.exit(3));\nparentPort.postMessage('ready');\n");
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on('unhandledRejection', onUnhandled);
    try {
      await expect(scan(d, { workerModule: pathToFileURL(module) })).rejects.toThrow(/^Scanning stopped: its worker threads kept failing \(exit code 3\)/);
      await new Promise((r) => setTimeout(r, 100));
      expect(unhandled).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('paces itself to the CPU cap over the run', async () => {
    const d = join(dir, 'paced');
    mkdirSync(d);
    const chunk = Buffer.alloc(2 * 1024 * 1024);
    for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i);
    for (let i = 0; i < 40; i++) writeFileSync(join(d, `f${i}`), chunk);
    const { pacer } = await scan(d, { cap: 0.25 });
    // This process's own CPU (vitest's fork runs only this file): at most the cap, with slack for the last file.
    expect(pacer.used()).toBeLessThan(0.35);
  });
});
