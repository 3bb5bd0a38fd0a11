import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RemediationRecords, remediationsFile } from './remediations.js';
import { LiveShell } from './session.js';
import type { Remediation } from './types.js';

const tmp = mkdtempSync(join(tmpdir(), 'cordon-live-records-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const record = (id: string): Remediation => ({ id, kind: 'cron', target: '/etc/crontab line 3', doneAt: '2026-12-01T00:00:00.000Z', undo: { cronFile: '/etc/crontab', marker: `#cordon-disabled ${id} ` }, undoneAt: null, detail: { line: 3 } });

describe('remediation records on the device', () => {
  it('are kept in the data directory (0700, written whole) and read back by a new instance', () => {
    const dataDir = mkdtempSync(join(tmp, 'kept-'));
    const file = remediationsFile(dataDir);
    new RemediationRecords(file).add(record('r00000001'));
    new RemediationRecords(file).add(record('r00000002'));
    expect(statSync(dirname(file)).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const again = new RemediationRecords(file);
    expect(again.list().map((r) => r.id)).toEqual(['r00000001', 'r00000002']);
    expect(again.markUndone('r00000001', '2026-12-01T01:00:00.000Z')).toMatchObject({ id: 'r00000001', undoneAt: '2026-12-01T01:00:00.000Z' });
    expect(again.markUndone('r0000000f', '2026-12-01T01:00:00.000Z')).toBeNull();
    expect(new RemediationRecords(file).list().map((r) => r.undoneAt)).toEqual(['2026-12-01T01:00:00.000Z', null]);
    // No temp file is left behind.
    expect(readdirSync(dirname(file))).toEqual(['remediations.json']);
  });

  it('a damaged or foreign file is moved aside and logged; the list starts empty and the next record is kept', () => {
    for (const text of ['{"format":"cordon-remediations/v1","remediations":[{"id":"r0', '{"format":"something else","remediations":[]}', '[1,2,3]']) {
      const dataDir = mkdtempSync(join(tmp, 'damaged-'));
      const file = remediationsFile(dataDir);
      mkdirSync(dirname(file), { recursive: true });
      writeFileSync(file, text);
      const logged: string[] = [];
      const records = new RemediationRecords(file, (m) => logged.push(m));
      expect(records.list()).toEqual([]);
      expect(logged).toEqual([expect.stringMatching(/remediations\.json is damaged \(.+\); moved to .+remediations\.json\.damaged-.+; the remediation list starts empty$/)]);
      const aside = readdirSync(dirname(file)).find((n) => n.startsWith('remediations.json.damaged-'))!;
      expect(readFileSync(join(dirname(file), aside), 'utf8')).toBe(text);
      records.add(record('r00000003'));
      expect(new RemediationRecords(file).list().map((r) => r.id)).toEqual(['r00000003']);
    }
  });

  it('a missing file is an empty list; without a data directory the records live in memory', () => {
    expect(new RemediationRecords(join(tmp, 'nothing', 'remediations.json')).list()).toEqual([]);
    expect(existsSync(join(tmp, 'nothing'))).toBe(false);
    const memory = new RemediationRecords(null);
    memory.add(record('r00000004'));
    expect(memory.list().map((r) => r.id)).toEqual(['r00000004']);
  });

  it('undo <id> in a new shell (a later session) enables a cron entry an earlier shell disabled', async () => {
    const dataDir = mkdtempSync(join(tmp, 'sessions-'));
    const cronDir = join(tmp, 'cron.d');
    mkdirSync(cronDir, { recursive: true });
    const crontab = join(cronDir, 'beacon');
    const text = '# beacon\n*/5 * * * * root /usr/local/bin/beacon\n';
    writeFileSync(crontab, text);
    const first = new LiveShell({ level: 'advanced', dataDir, cronRoots: [cronDir] });
    const done = await first.run(`remediate cron ${crontab} 2`);
    expect(done.exitStatus, done.output).toBe(0);
    const id = (done.data as Remediation).id;
    first.close();

    const later = new LiveShell({ level: 'advanced', dataDir, cronRoots: [cronDir] });
    expect((await later.run('remediate list')).output).toContain(`${id}  `);
    const undone = await later.run(`undo ${id}`);
    expect(undone.output).toBe(`${crontab} line 2 enabled again; ${id} undone\n`);
    expect(readFileSync(crontab, 'utf8')).toBe(text);
    expect(await new LiveShell({ level: 'advanced', dataDir, cronRoots: [cronDir] }).run(`undo ${id}`)).toMatchObject({ exitStatus: 1, output: expect.stringMatching(new RegExp(`^undo: ${id} was undone already, at \\S+\\n$`)) });
  });
});
