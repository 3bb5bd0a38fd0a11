import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { ContentManifest, IndicatorEntry, LiveScanContentRef } from '@cordon/protocol';
import { IndicatorSet } from '../../content/indicators.js';
import { ScanRules } from '../../scan/rules.js';
import { LiveShell } from '../session.js';
import type { ContentBehind, LiveScanning } from '../types.js';
import type { AnalyzeResult } from './analyze.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-live-analyze-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

const RULES = [
  'rule Test_Implant_Marker { meta: severity = "High" category = "Backdoor" strings: $a = "implant-marker-51c0" condition: $a }',
  'rule Test_Recon_Hint { meta: severity = "Low" strings: $a = "recon-hint-9d2e" condition: $a }',
].join('\n');
const DROPPER = 'a dropper no rule knows\n';
const indicator = (over: Partial<IndicatorEntry>): IndicatorEntry => ({ id: '7', value: sha256(DROPPER), type: 'FileSha256', action: 'Alert', severity: 'Medium', title: 'known dropper', generateAlert: true, expirationTime: null, ...over });

/** A content store holding a rule-pack bundle (version 3) and an indicator set (version 5), as the agent's would after verifying them. */
function store(indicators: IndicatorEntry[]) {
  const manifest = (kind: string, version: number) => ({ kind, name: 'default', version }) as unknown as ContentManifest;
  const bundle = { format: 'cordon-rulepacks/v1', packs: [{ name: 'test-pack', version: 3, sha256: sha256(RULES), source: RULES }] };
  return {
    load: (kind: string) =>
      kind === 'rulepack' ? { manifest: manifest(kind, 3), bytes: Buffer.from(JSON.stringify(bundle)) } : kind === 'indicators' ? { manifest: manifest(kind, 5), bytes: Buffer.from(JSON.stringify({ format: 'cordon-indicators/v1', indicators })) } : null,
  };
}

function scanning(opts: { indicators?: IndicatorEntry[]; maxFileBytes?: number; clamav?: LiveScanning['settings']['clamav']; behind?: ContentBehind[] } = {}): LiveScanning & { asked: LiveScanContentRef[][] } {
  const s = store(opts.indicators ?? [indicator({})]);
  const indicators = new IndicatorSet(s);
  indicators.reload();
  const asked: LiveScanContentRef[][] = [];
  return {
    rules: new ScanRules(s),
    indicators,
    settings: { cpuPercent: 100, maxFileBytes: opts.maxFileBytes ?? 1024 * 1024, exclude: [], networkMounts: false, clamav: opts.clamav ?? { mode: 'off' } },
    catchUp: async (refs) => {
      asked.push([...refs]);
      return opts.behind ?? [];
    },
    asked,
  };
}

const shell = (s: LiveScanning | null = scanning()) => new LiveShell({ level: 'basic', ...(s ? { scanning: s } : {}) });
const dataOf = (r: { data?: unknown }) => r.data as AnalyzeResult;

describe('analyze', () => {
  it('a file a rule matches: malicious, with the rule, its pack, the file’s SHA-256 and size, and the engines that ran', async () => {
    const path = join(dir, 'implant.bin');
    const bytes = 'header implant-marker-51c0 trailer\n';
    writeFileSync(path, bytes);
    const r = await shell().run(`analyze '${path}'`);
    expect(r.exitStatus, r.output).toBe(0);
    expect(dataOf(r)).toMatchObject({
      path,
      verdict: 'malicious',
      reason: null,
      size: bytes.length,
      sha256: sha256(bytes),
      matches: [{ engine: 'YARA', threat: 'Test_Implant_Marker', source: 'test-pack', severity: 'High', category: 'Backdoor', path }],
      engines: { yara: { packs: [{ name: 'test-pack', version: 3 }], contentVersion: 3 }, hashIndicators: { count: 1, contentVersion: 5 }, clamav: { unavailable: 'turned off (scanClamav: off)' } },
      alerted: false,
    });
    expect(r.output).toMatch(new RegExp(`sha256: +${sha256(bytes)}\n`));
    expect(r.output).toMatch(/verdict: +malicious\n/);
    expect(r.output).toMatch(/match: +YARA: rule Test_Implant_Marker \(pack test-pack\), severity High\n/);
    expect(r.output).toMatch(/engine: +YARA-X: \d+ rules \(cordon-default, test-pack v3\)\n/);
    expect(r.output).toMatch(/engine: +ClamAV: did not run: turned off \(scanClamav: off\)\n/);
    expect(r.output).toMatch(/note: +analyze raises no alert and quarantines nothing\n/);
  });

  it('a file whose hash is an indicator: malicious, by the indicator; an Allowed indicator makes it clean', async () => {
    const path = join(dir, 'dropper.sh');
    writeFileSync(path, DROPPER);
    const r = await shell().run(`analyze ${path}`);
    expect(dataOf(r)).toMatchObject({ verdict: 'malicious', matches: [{ engine: 'Indicator', threat: 'known dropper', source: 'indicator 7', severity: 'Medium' }] });
    expect(r.output).toMatch(/match: +Indicator: indicator 7: known dropper, severity Medium\n/);
    const allowed = await shell(scanning({ indicators: [indicator({ action: 'Allowed' })] })).run(`analyze ${path}`);
    expect(dataOf(allowed)).toMatchObject({ verdict: 'clean', matches: [] });
  });

  it('only a Low rule: suspicious; nothing: clean; the path is taken against the working directory', async () => {
    writeFileSync(join(dir, 'notes.txt'), 'recon-hint-9d2e\n');
    writeFileSync(join(dir, 'clean.txt'), 'nothing to see\n');
    const sh = shell();
    expect((await sh.run(`cd ${dir}`)).exitStatus).toBe(0);
    expect(dataOf(await sh.run('analyze notes.txt'))).toMatchObject({ verdict: 'suspicious', matches: [{ threat: 'Test_Recon_Hint', severity: 'Low' }] });
    const clean = await sh.run('analyze clean.txt');
    expect(dataOf(clean)).toMatchObject({ path: join(dir, 'clean.txt'), verdict: 'clean', reason: null, matches: [], skipped: [], size: 15, sha256: sha256('nothing to see\n') });
    expect(clean.output).toMatch(/verdict: +clean\n/);
  });

  it('a file over the scan size limit: could not scan, with why', async () => {
    const path = join(dir, 'big.bin');
    writeFileSync(path, Buffer.alloc(4096, 1));
    const r = await shell(scanning({ maxFileBytes: 1024 })).run(`analyze ${path}`);
    expect(r.exitStatus).toBe(0);
    expect(dataOf(r)).toMatchObject({ verdict: 'could-not-scan', reason: 'the file: over the size limit (4096 bytes; the limit is 1024)', sha256: null, size: null });
    expect(r.output).toMatch(/verdict: +could-not-scan: the file: over the size limit \(4096 bytes; the limit is 1024\)\n/);
  });

  it('refuses a directory, a device, a FIFO, a socket, a symbolic link and a missing file, never opening them', async () => {
    const sh = shell();
    mkdirSync(join(dir, 'a dir'), { recursive: true });
    execFileSync('mkfifo', [join(dir, 'pipe')]);
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(join(dir, 'sock'), resolve));
    try {
      expect((await sh.run(`analyze ${join(dir, 'sock')}`)).output).toBe(`analyze: ${dir}/sock is a socket, not a regular file: only files are analyzed (it was not opened)\n`);
    } finally {
      server.close();
    }
    symlinkSync(join(dir, 'clean.txt'), join(dir, 'link'));
    expect(await sh.run(`analyze '${join(dir, 'a dir')}'`)).toEqual({ exitStatus: 1, output: `analyze: ${dir}/a dir is a directory, not a regular file: only files are analyzed (it was not opened)\n` });
    expect(await sh.run('analyze /dev/null')).toEqual({ exitStatus: 1, output: 'analyze: /dev/null is a character device, not a regular file: only files are analyzed (it was not opened)\n' });
    expect((await sh.run(`analyze ${join(dir, 'pipe')}`)).output).toMatch(/pipe is a FIFO, not a regular file/);
    expect(await sh.run(`analyze ${join(dir, 'link')}`)).toEqual({ exitStatus: 1, output: `analyze: ${dir}/link is a symbolic link to ${dir}/clean.txt; analyze its target by name (links are never followed)\n` });
    expect(await sh.run(`analyze ${join(dir, 'missing')}`)).toEqual({ exitStatus: 1, output: `analyze: ${dir}/missing: no such file or directory\n` });
    expect(await sh.run('analyze')).toEqual({ exitStatus: 2, output: 'analyze: usage: analyze <path>\n' });
    expect((await sh.run('analyze a b')).exitStatus).toBe(2);
    expect(await shell(null).run(`analyze ${join(dir, 'clean.txt')}`)).toEqual({ exitStatus: 1, output: 'analyze: this agent has no scanner set up; nothing was scanned\n' });
  });

  it('catches the content up to the versions the line names first, and says what is still behind', async () => {
    const path = join(dir, 'clean.txt');
    const refs: LiveScanContentRef[] = [{ kind: 'rulepack', name: 'default', version: 4 }];
    const s = scanning({ behind: [{ kind: 'rulepack', name: 'default', version: 4, have: 3, problem: 'the server could not be asked for it' }] });
    const r = await shell(s).run(`analyze ${path}`, { scanContent: refs });
    expect(s.asked).toEqual([refs]);
    expect(dataOf(r).contentBehind).toEqual([{ kind: 'rulepack', name: 'default', version: 4, have: 3, problem: 'the server could not be asked for it' }]);
    expect(r.output).toMatch(/content: +rulepack\/default is version 3 here, the server has 4 \(the server could not be asked for it\): judged with what this device has\n/);
    // A line without content versions (an older server) is judged with what the device has.
    const plain = scanning();
    await shell(plain).run(`analyze ${path}`);
    expect(plain.asked).toEqual([]);
  });

  it('without ClamAV on the device, says which engines ran and why ClamAV did not', async () => {
    const empty = join(dir, 'no-clamav-db');
    mkdirSync(empty, { recursive: true });
    const r = await shell(scanning({ clamav: { mode: 'auto', databaseDir: empty, clamdSocket: join(dir, 'no-clamd.sock') } })).run(`analyze ${join(dir, 'clean.txt')}`);
    expect(dataOf(r)).toMatchObject({ verdict: 'clean', engines: { clamav: { unavailable: `no ClamAV database in ${empty} (no .cvd, .cld, .hsb, .ndb, ... file) and no clamd answering at ${join(dir, 'no-clamd.sock')}` } } });
    expect(r.output).toMatch(/engine: +YARA-X: .*\nengine: +hash indicators: 1 file-hash indicators \(version 5\)\nengine: +ClamAV: did not run: no ClamAV database/);
  });

  it('help lists it as a basic command that raises no alert', async () => {
    const r = await shell().run('help analyze');
    expect(r.output).toBe('Scan one file with the antivirus engines (YARA rules, hash indicators, ClamAV if present) and give a verdict; raises no alert, quarantines nothing\nusage: analyze <path>\n');
    expect(r.data).toMatchObject({ name: 'analyze', level: 'basic', allowed: true });
  });
});
