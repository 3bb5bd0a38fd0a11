import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IndicatorEntry } from '@cordon/protocol';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { dpkgPolicyLines, rpmPolicyLines } from '../../platform/linux/package-digests.js';
import { RepeatLimiter } from './repeat-limiter.js';
import { readRestrictionOrFailClosed, restrictionFile, writeRestriction } from './state.js';
import { buildTrustList, sha256File } from './trust-list.js';

const MD5_A = 'a'.repeat(32);
const SHA_B = 'b'.repeat(64);
const allowed = (value: string, over: Partial<IndicatorEntry> = {}): IndicatorEntry => ({ id: value.slice(0, 4), value, type: 'FileSha256', action: 'Allowed', severity: 'Informational', title: 't', generateAlert: false, expirationTime: null, ...over });

let dir: string;
beforeEach(() => {
  dir = realpathSync(mkdtempSync(join(tmpdir(), 'cordon-restriction-')));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('restriction journal', () => {
  it('reads Unrestricted when there is none, and what was written', () => {
    expect(readRestrictionOrFailClosed(dir).state).toBe('Unrestricted');
    writeRestriction(dir, { state: 'Restricted', since: '2026-01-01T00:00:00.000Z', actionId: 'a1' });
    expect(readRestrictionOrFailClosed(dir)).toEqual({ state: 'Restricted', since: '2026-01-01T00:00:00.000Z', actionId: 'a1' });
  });

  it('fails closed: a damaged journal reads as Restricted and says why', () => {
    const seen: string[] = [];
    writeFileSync(restrictionFile(dir), '{"state":');
    expect(readRestrictionOrFailClosed(dir, (e) => seen.push(e.message)).state).toBe('Restricted');
    writeFileSync(restrictionFile(dir), JSON.stringify({ state: 'Maybe', since: null, actionId: null }));
    expect(readRestrictionOrFailClosed(dir, (e) => seen.push(e.message)).state).toBe('Restricted');
    expect(seen).toHaveLength(2);
    expect(seen[0]).toContain('is damaged');
  });
});

describe('trust list', () => {
  const info = () => join(dir, 'info');
  beforeEach(() => {
    mkdirSync(info());
    // A usrmerge-like layout: bin → usr/bin, so dpkg's `bin/tool` is the kernel's <root>/usr/bin/tool.
    mkdirSync(join(dir, 'root/usr/bin'), { recursive: true });
    symlinkSync('usr/bin', join(dir, 'root/bin'));
    const rel = join(dir, 'root').slice(1);
    writeFileSync(join(info(), 'tool.md5sums'), `${MD5_A}  ${rel}/bin/tool\nnot a line\n${'c'.repeat(32)}  ${rel}/usr/bin/other\n`);
    writeFileSync(join(info(), 'tool.list'), `${MD5_A}  ignored/because/not/md5sums\n`);
  });

  it('turns dpkg md5sums into absolute canonical paths', () => {
    expect(dpkgPolicyLines(info()).sort()).toEqual([`md5 ${MD5_A} ${dir}/root/usr/bin/tool`, `md5 ${'c'.repeat(32)} ${dir}/root/usr/bin/other`].sort());
  });

  it('reads rpm digests by their length (MD5 or SHA-256), skipping directories and other algorithms', () => {
    const out = [`${SHA_B} /usr/bin/ls`, ` /usr/share/doc`, `${MD5_A} /usr/bin/old`, `${'d'.repeat(40)} /usr/bin/sha1`, `${'e'.repeat(128)} /usr/bin/sha512`].join('\n');
    expect(rpmPolicyLines(out)).toEqual([`sha256 ${SHA_B} /usr/bin/ls`, `md5 ${MD5_A} /usr/bin/old`]);
  });

  it('holds the packages, the Allowed SHA-256 indicators in force and Cordon itself', async () => {
    const self = join(dir, 'self');
    writeFileSync(self, 'runtime');
    const list = await buildTrustList(
      [allowed(SHA_B.toUpperCase()), allowed('f'.repeat(64), { action: 'Block' }), allowed(MD5_A, { type: 'FileMd5' }), allowed('bad')],
      { dpkgInfoDir: info(), rpmLines: async () => [`sha256 ${'9'.repeat(64)} /usr/bin/rpmfile`], selfPaths: [self], managerPaths: [] },
    );
    const text = list.policy.toString('latin1').split('\n');
    expect(text[0]).toBe('cordon-exec-policy 1');
    expect(text).toContain(`md5 ${MD5_A} ${dir}/root/usr/bin/tool`);
    expect(text).toContain(`sha256 ${'9'.repeat(64)} /usr/bin/rpmfile`);
    expect(text).toContain(`allow-sha256 ${SHA_B}`);
    expect(text).toContain(`allow-sha256 ${await sha256File(self)}`);
    expect(text.filter((l) => l.startsWith('allow-sha256'))).toHaveLength(2);
    expect(list).toMatchObject({ packageFiles: 3, allowedHashes: 2, sources: { dpkg: 2, rpm: 1, allowIndicators: 1, self: 1, packageManagers: [] } });
  });

  it('names the package managers that are installed and listed by a package (manager lines, canonical paths)', async () => {
    const self = join(dir, 'self');
    writeFileSync(self, 'runtime');
    const root = join(dir, 'root');
    writeFileSync(join(info(), 'dpkg.md5sums'), `${MD5_A}  ${root.slice(1)}/bin/dpkg\n`);
    writeFileSync(join(root, 'usr/bin/dpkg'), '');
    writeFileSync(join(root, 'usr/bin/rpm'), ''); // present, but no package lists it
    const rpm = `${root}/usr/bin/listed-rpm`; // listed by rpm, but not present
    const list = await buildTrustList([], {
      dpkgInfoDir: info(),
      rpmLines: async () => [`sha256 ${SHA_B} ${rpm}`],
      selfPaths: [self],
      managerPaths: [`${root}/bin/dpkg`, `${root}/usr/bin/rpm`, rpm],
    });
    const text = list.policy.toString('latin1').split('\n');
    expect(text.filter((l) => l.startsWith('manager '))).toEqual([`manager ${root}/usr/bin/dpkg`]);
    expect(list.sources.packageManagers).toEqual([`${root}/usr/bin/dpkg`]);
  });

  it('refuses (nothing to restrict with) when no package database can be read', async () => {
    const self = join(dir, 'self');
    writeFileSync(self, 'runtime');
    await expect(buildTrustList([], { dpkgInfoDir: join(dir, 'nope'), rpmLines: async () => null, selfPaths: [self], managerPaths: [] })).rejects.toThrow(/No package database could be read \(cannot read .*nope: ENOENT; rpm is not installed\)/);
    mkdirSync(join(dir, 'empty'));
    await expect(buildTrustList([], { dpkgInfoDir: join(dir, 'empty'), rpmLines: async () => [], selfPaths: [self], managerPaths: [] })).rejects.toThrow(/no \*\.md5sums in .*empty; rpm lists no file digests/);
    if (process.getuid?.() !== 0) {
      chmodSync(info(), 0);
      await expect(buildTrustList([], { dpkgInfoDir: info(), rpmLines: async () => null, selfPaths: [self], managerPaths: [] })).rejects.toThrow(/EACCES/);
    }
    // rpm alone is enough.
    const list = await buildTrustList([], { dpkgInfoDir: join(dir, 'nope'), rpmLines: async () => [`md5 ${MD5_A} /x`], selfPaths: [self], managerPaths: [] });
    expect(list.packageFiles).toBe(1);
  });
});

describe('repeat limiter', () => {
  it('lets one through per window and key, counting the ones held back', () => {
    const l = new RepeatLimiter(600_000);
    expect(l.hit('a', 0)).toBe(0);
    expect(l.hit('a', 1000)).toBeNull();
    expect(l.hit('a', 599_999)).toBeNull();
    expect(l.hit('b', 1000)).toBe(0);
    expect(l.hit('a', 600_000)).toBe(2);
    expect(l.hit('a', 600_001)).toBeNull();
    expect(l.hit('a', 1_200_000)).toBe(1);
  });

  it('stays bounded under a flood of distinct keys', () => {
    const l = new RepeatLimiter(1000, 3);
    for (let i = 0; i < 10; i++) expect(l.hit(`k${i}`, 0)).toBe(0);
    expect(l.hit('k9', 1)).toBeNull();
  });
});
