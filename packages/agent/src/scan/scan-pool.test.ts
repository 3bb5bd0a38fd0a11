import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileRules } from '@cordon/protocol/yara';
import { DEFAULT_ARCHIVE_LIMITS } from './archives.js';
import { FileScanner, type FileScanSettings } from './file-scan.js';
import { ScanPool } from './scan-pool.js';

const RULE = 'rule Marker { meta: severity = "High" strings: $a = "pool-marker-51c2" condition: $a }';
const settings = (over: Partial<FileScanSettings> = {}): FileScanSettings => ({ maxFileBytes: 1 << 30, bufferBytes: 1 << 20, archives: DEFAULT_ARCHIVE_LIMITS, md5: false, indicatorHashes: [], ...over });
const hex = (algorithm: string, b: Buffer) => createHash(algorithm).update(b).digest('hex');

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-pool-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('FileScanner (one worker thread’s work, run here directly)', () => {
  const rules = () => compileRules([{ name: 'team', source: RULE }]).rules;

  it('reads a small file whole and a large one in place, with the same hashes and matches either way', async () => {
    const body = Buffer.concat([Buffer.alloc(3 << 20, 1), Buffer.from('pool-marker-51c2')]);
    const path = join(dir, 'big');
    writeFileSync(path, body);
    for (const bufferBytes of [8 << 20, 1 << 20]) {
      const o = await new FileScanner(rules(), settings({ bufferBytes })).scan({ id: 1, path });
      expect(o).toMatchObject({ kind: 'scanned', facts: { size: body.length }, hashes: { sha256: hex('sha256', body), sha1: hex('sha1', body) }, rules: { hits: [{ ruleIdentifier: 'Marker', meta: { severity: 'High' } }] } });
    }
  });

  it('works out MD5 only for a file that matched, carries an indicator’s hash, or when an MD5 indicator exists', async () => {
    const clean = Buffer.from('nothing to see');
    writeFileSync(join(dir, 'clean'), clean);
    writeFileSync(join(dir, 'marked'), 'pool-marker-51c2');
    const scanner = new FileScanner(rules(), settings({ indicatorHashes: [hex('sha1', clean)] }));
    const plain = new FileScanner(rules(), settings());
    const unmatched = await plain.scan({ id: 1, path: join(dir, 'clean') });
    expect(unmatched).toMatchObject({ kind: 'scanned', hashes: { sha256: hex('sha256', clean) } });
    expect(unmatched).not.toHaveProperty('hashes.md5');
    expect(await scanner.scan({ id: 2, path: join(dir, 'clean') })).toMatchObject({ hashes: { md5: hex('md5', clean) } });
    expect(await plain.scan({ id: 3, path: join(dir, 'marked') })).toMatchObject({ hashes: { md5: expect.stringMatching(/^[0-9a-f]{32}$/) } });
    expect(await new FileScanner(rules(), settings({ md5: true })).scan({ id: 4, path: join(dir, 'clean') })).toMatchObject({ hashes: { md5: hex('md5', clean) } });
  });

  it('a vanished file and a directory are skipped with the reason', async () => {
    const scanner = new FileScanner(rules(), settings());
    expect(await scanner.scan({ id: 7, path: join(dir, 'gone') })).toEqual({ id: 7, kind: 'skipped', skipped: { path: join(dir, 'gone'), reason: 'Vanished', detail: expect.any(String) } });
    expect(await scanner.scan({ id: 8, path: dir })).toMatchObject({ id: 8, kind: 'skipped', skipped: { reason: 'NotRegular' } });
  });
});

describe('ScanPool', () => {
  it('scans on its worker threads, each with its own copy of the rules, in any number at once', async () => {
    const paths = Array.from({ length: 40 }, (_, i) => {
      const p = join(dir, `f${i}`);
      writeFileSync(p, i % 5 === 0 ? `x pool-marker-51c2 ${i}` : `clean ${i}`);
      return p;
    });
    const pool = await ScanPool.start(2, { rules: compileRules([{ name: 'team', source: RULE }]).rules.serialize(), fileTimeoutMs: 10_000, settings: settings() });
    try {
      const outcomes = await Promise.all(paths.map((p) => pool.scan(p)));
      const marked = outcomes.filter((o) => o.kind === 'scanned' && 'hits' in o.rules && o.rules.hits.length > 0);
      expect(marked).toHaveLength(8);
      expect(new Set(outcomes.map((o) => o.id)).size).toBe(40);
    } finally {
      await pool.close();
    }
  });

  it('says why when its workers cannot start (rules they cannot load)', async () => {
    await expect(ScanPool.start(1, { rules: Buffer.from('not compiled rules'), fileTimeoutMs: 1000, settings: settings() })).rejects.toThrow(/^The scan's worker threads did not start: /);
  });
});
