import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LINUX_COLLECTORS } from './collectors/index.js';
import { readZip, summaryRows } from '../../testing/zip.js';
import { producePackage, type PackageSummary } from './package.js';
import { SUMMARY_FILE } from './summary.js';
import type { Collector } from './types.js';


/** A minimal CSV reader (quoted fields, doubled quotes) for checking the package's CSVs. */
function parseCsv(text: string): Record<string, string>[] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      row.push(field);
      field = '';
    } else if (ch === '\n') {
      row.push(field);
      rows.push(row);
      row = [];
      field = '';
    } else field += ch;
  }
  const [head, ...body] = rows;
  return body.map((r) => Object.fromEntries(head!.map((h, i) => [h, r[i] ?? ''])));
}

describe('investigation package on this machine', () => {
  let dir: string;
  let zipPath: string;
  let summary: PackageSummary;
  let entries: Map<string, Buffer>;
  const progress: [number, string][] = [];
  const CREDENTIAL = 'cdc_this-must-never-leave-the-device';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cordon-package-'));
    const dataDir = join(dir, 'agent');
    mkdirSync(join(dataDir, 'journal'), { recursive: true });
    writeFileSync(join(dataDir, 'enrollment.json'), JSON.stringify({ serverUrl: 'https://cordon.test:8443', machineId: 'a'.repeat(40), credential: CREDENTIAL, enrolledAt: '2026-01-01T00:00:00Z' }));
    writeFileSync(join(dataDir, 'agent.json'), JSON.stringify({ tags: ['lab'], logLevel: 'debug' }));
    writeFileSync(join(dataDir, 'journal', 'x.json'), JSON.stringify({ actionId: 'x', type: 'CollectInvestigationPackage', credential: CREDENTIAL }));
    writeFileSync(join(dataDir, 'agent.log'), `{"msg":"hello","credential":"${CREDENTIAL}"}\n`);
    zipPath = join(dir, 'package.zip');
    summary = await producePackage(createWriteStream(zipPath), { dataDir, collectorTimeoutMs: 20_000, progress: (p, m) => progress.push([p, m]) });
    entries = await readZip(zipPath);
  }, 60_000);

  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('has every folder, each with at least one file, and the report at the root', () => {
    for (const c of LINUX_COLLECTORS) {
      const files = [...entries.keys()].filter((n) => n.startsWith(`${c.folder}/`));
      expect(files.length, c.folder).toBeGreaterThan(0);
    }
    expect(entries.has(SUMMARY_FILE)).toBe(true);
    expect(summary.collectors).toBe(LINUX_COLLECTORS.length);
    expect(summary.zipBytes).toBe(readFileSync(zipPath).length);
    expect(progress.at(-1)?.[0]).toBe(100);
    expect(progress.map(([p]) => p)).toEqual([...progress.map(([p]) => p)].sort((a, b) => a - b));
  });

  it('lists every file of the zip in the xlsx with source, status and bytes', async () => {
    const rows = await summaryRows(entries.get(SUMMARY_FILE)!);
    expect(rows.length).toBe(summary.dataPoints);
    const listed = new Set(rows.map((r) => `${String(r.Folder)}/${String(r.File)}`));
    for (const [name, bytes] of entries) {
      if (name === SUMMARY_FILE) continue;
      expect(listed.has(name), name).toBe(true);
      const row = rows.find((r) => `${String(r.Folder)}/${String(r.File)}` === name)!;
      expect(['Succeeded', 'Failed', 'TimedOut', 'Truncated', 'NotPresent']).toContain(row.Status);
      expect(String(row['Source / command']).length).toBeGreaterThan(0);
      // Bytes are the collected bytes; an incomplete file also carries a one-line marker.
      if (row.Status === 'Succeeded' || row.Status === 'NotPresent') expect(Number(row.Bytes), name).toBe(bytes.length);
    }
  });

  it('hashes process executables correctly (this test runner among them)', () => {
    const rows = parseCsv(entries.get('Processes/Processes.csv')!.toString('utf8'));
    const me = rows.find((r) => r.pid === String(process.pid));
    expect(me, 'this process is listed').toBeDefined();
    expect(me!.exePath).toBe(process.execPath);
    expect(me!.exeDeleted).toBe('no');
    expect(me!.exeSha256).toBe(createHash('sha256').update(readFileSync(process.execPath)).digest('hex'));
    expect(me!.ppid).toBe(String(process.ppid));
  });

  it('holds real data from the machine', () => {
    const text = (n: string) => entries.get(n)?.toString('utf8') ?? '';
    expect(text('System Information/SystemInformation.txt')).toContain('Logical CPUs:');
    expect(text('Users and Groups/Accounts.csv')).toMatch(/^root,0,0,/m);
    expect(text('Users and Groups/Group_root.txt')).toContain('root');
    expect(text('Network connections/IpConfig.txt')).toMatch(/\blo\b/);
    const pkgs = [...entries.keys()].find((n) => n.startsWith('Installed programs/InstalledPrograms_'));
    expect(pkgs && text(pkgs).split('\n').length).toBeGreaterThan(10);
  });

  it('never packs the credential or a password hash', () => {
    for (const [name, bytes] of entries) {
      const t = bytes.toString('latin1');
      expect(t.includes(CREDENTIAL), name).toBe(false);
      expect(/\$(6|y|5|2b)\$[^:\s]{8,}/.test(t) && name.startsWith('Users and Groups/'), name).toBe(false);
    }
    expect(entries.get('Support logs/Enrollment.json')!.toString()).toContain('[REDACTED]');
    expect(entries.get('Support logs/AgentLog_agent.log.txt')!.toString()).toContain('[REDACTED]');
  });

});

describe('budgets: a failing, hanging or oversized collector is recorded, never fatal', () => {
  const base = { source: 'test', timeoutMs: 60_000, maxBytes: 1024 * 1024 };
  const collectors: Collector[] = [
    {
      ...base,
      folder: 'Throws',
      name: 'throws',
      // eslint-disable-next-line require-yield
      async *collect() {
        throw Object.assign(new Error('EACCES reading /etc/secret'), { code: 'EACCES' });
      },
    },
    {
      ...base,
      folder: 'Hangs',
      name: 'hangs',
      timeoutMs: 300,
      async *collect() {
        yield { name: 'first.txt', source: 'x', content: 'before the hang\n' };
        await new Promise(() => undefined);
      },
    },
    {
      ...base,
      folder: 'Slow stream',
      name: 'slow-stream',
      timeoutMs: 300,
      async *collect() {
        yield {
          name: 'stream.txt',
          source: 'x',
          content: Readable.from(
            (async function* () {
              yield 'partial\n';
              await new Promise(() => undefined);
            })(),
          ),
        };
      },
    },
    {
      ...base,
      folder: 'Too big',
      name: 'too-big',
      maxBytes: 1000,
      async *collect() {
        yield { name: 'a.txt', source: 'x', content: 'a'.repeat(600) };
        yield { name: 'b.txt', source: 'x', content: 'b'.repeat(600) };
        yield { name: 'c.txt', source: 'x', content: 'never' };
      },
    },
    {
      ...base,
      folder: 'Missing',
      name: 'missing',
      async *collect() {
        yield { name: 'x.txt', source: '/nope', status: 'NotPresent', content: '/nope: not present on this device\n' };
        yield { name: 'x.txt', source: '/nope2', content: 'same name twice\n' };
      },
    },
    {
      ...base,
      folder: 'Over total',
      name: 'over-total',
      async *collect() {
        yield { name: 'big.txt', source: 'x', content: Buffer.alloc(5000, 0x41) };
      },
    },
    {
      ...base,
      folder: 'After total',
      name: 'after-total',
      async *collect() {
        yield { name: 'never.txt', source: 'x', content: 'never' };
      },
    },
  ];

  it('produces a complete zip and records each outcome', async () => {
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    });
    // A hang would show as a collector without its TimedOut outcome below (or the test's own time-out).
    const s = await producePackage(out, { dataDir: '/nonexistent', collectors, totalMaxBytes: 4000 });
    const dir = mkdtempSync(join(tmpdir(), 'cordon-budget-'));
    try {
      writeFileSync(join(dir, 'p.zip'), Buffer.concat(chunks));
      const entries = await readZip(join(dir, 'p.zip'));
      const by = (folder: string) => s.points.filter((p) => p.folder === folder).map((p) => [p.file, p.status, p.errorCode]);
      expect(by('Throws')).toEqual([['NotCollected.txt', 'Failed', 'EACCES']]);
      expect(entries.get('Throws/NotCollected.txt')!.toString()).toContain('EACCES reading /etc/secret');
      expect(by('Hangs')).toEqual([
        ['first.txt', 'Succeeded', ''],
        ['(remaining files)', 'TimedOut', 'CollectorTimeout'],
      ]);
      expect(by('Slow stream')).toEqual([['stream.txt', 'TimedOut', 'CollectorTimeout']]);
      expect(entries.get('Slow stream/stream.txt')!.toString()).toBe('partial\n\n[Cordon: file incomplete, time-out reached]\n');
      expect(by('Too big')).toEqual([
        ['a.txt', 'Succeeded', ''],
        ['b.txt', 'Truncated', 'CollectorSizeCap'],
        ['(remaining files)', 'Truncated', 'CollectorSizeCap'],
      ]);
      expect(entries.get('Too big/b.txt')!.toString()).toMatch(/^b{400}\n\[Cordon: file incomplete, size cap reached\]\n$/);
      expect(entries.has('Too big/c.txt')).toBe(false);
      expect(by('Missing')).toEqual([
        ['x.txt', 'NotPresent', ''],
        ['x_2.txt', 'Succeeded', ''],
      ]);
      expect(by('Over total')).toEqual([
        ['big.txt', 'Truncated', 'TotalSizeCap'],
        ['(remaining files)', 'Truncated', 'TotalSizeCap'],
      ]);
      expect(by('After total')).toEqual([['NotCollected.txt', 'Truncated', 'TotalSizeCap']]);
      expect(s.bytes - s.points.filter((p) => p.file === 'NotCollected.txt').reduce((a, p) => a + p.bytes, 0)).toBeLessThanOrEqual(4000);
      const rows = await summaryRows(entries.get(SUMMARY_FILE)!);
      expect(rows.map((r) => `${String(r.Folder)}/${String(r.File)}`)).toEqual(s.points.map((p) => `${p.folder}/${p.file}`));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('fails with the output stream error when the caller stream breaks', async () => {
    const out = new Writable({
      write(_c, _e, cb) {
        cb(new Error('ENOSPC: no space left on device'));
      },
    });
    await expect(producePackage(out, { dataDir: '/nonexistent', collectors: [collectors[3]!] })).rejects.toThrow(/ENOSPC/);
  });

  it('streams a large file: a stalled consumer stops the reading, and it resumes when the consumer does', async () => {
    // Behaviour, not a memory figure (bench/package.bench.ts prints the producer's RSS growth): with
    // the consumer stalled, the producer must stop pulling from the file long before its end.
    let written = 0;
    let produced = 0;
    let release!: () => void;
    const stalled = new Promise<void>((r) => (release = r));
    const out = new Writable({
      write(c: Buffer, _e, cb) {
        written += c.length;
        void stalled.then(() => setImmediate(cb));
      },
    });
    const size = 32 * 1024 * 1024;
    const big: Collector = {
      ...base,
      folder: 'Big',
      name: 'big',
      maxBytes: size,
      timeoutMs: 600_000,
      async *collect() {
        yield {
          name: 'random.bin',
          source: 'generated',
          content: Readable.from(
            (async function* () {
              // Incompressible (a random MiB repeats further apart than deflate's window): the zip is as big as the file.
              const chunk = randomBytes(1024 * 1024);
              for (let i = 0; i < size / chunk.length; i++) {
                chunk.writeUInt32LE(i, 0);
                produced += chunk.length;
                yield Buffer.from(chunk);
              }
            })(),
          ),
        };
      },
    };
    const done = producePackage(out, { dataDir: '/nonexistent', collectors: [big], collectorMaxBytes: size });
    // Wait until the producer stops by itself (no progress over 10 looks), or has read it all.
    let last = -1;
    for (let still = 0; still < 10 && produced < size; ) {
      await new Promise((r) => setTimeout(r, 20));
      still = produced === last ? still + 1 : 0;
      last = produced;
    }
    expect(produced).toBeGreaterThan(0);
    expect(produced).toBeLessThan(size / 2);
    release();
    const s = await done;
    expect(s.points[0]).toMatchObject({ status: 'Succeeded', bytes: size });
    expect(produced).toBe(size);
    expect(written).toBeGreaterThan(0);
  });
});
