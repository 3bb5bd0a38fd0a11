/**
 * Run antivirus scan from the API to a real agent over the real gateway, on real files the test
 * plants: the uploaded rule pack and a hash indicator reach the agent, the scan finds EICAR (plain,
 * zipped), the pack's rule and the indicator, each detection becomes an alert with its evidence,
 * progress shows while it runs, and a running scan can be cancelled.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import yazl from 'yazl';
import { Agent, enroll } from '@cordon/agent';
import { hostSafePlatform, testAgent } from '../testing/real-agent.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-' + 'ANTIVIRUS-TEST-FILE!$H+H*');
const TEAM_RULE = 'rule Team_Webshell_Marker\n{\n  meta:\n    severity = "High"\n    category = "Execution"\n  strings:\n    $a = "team-webshell-3c1d"\n  condition:\n    $a\n}\n';

let h: Harness;
let agentUrl: string;
let dir: string;
const agents: Agent[] = [];
beforeEach(async () => {
  h = await startHarness();
  // A real agent checks commands' expiry against the real time.
  h.clock.t = Date.now();
  agentUrl = (await h.server.listen()).agentUrl;
  dir = mkdtempSync(join(tmpdir(), 'cordon-scan-agent-'));
});
afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop();
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

const wait = (check: () => void | Promise<void>, timeout = 20_000) => vi.waitFor(check, { timeout, interval: 50 });

async function startAgent(scanRoot: string, over: Record<string, unknown> = {}, on = hostSafePlatform): Promise<{ agent: Agent; machineId: string }> {
  const agentDir = join(dir, 'agent');
  const { token } = await h.server.services.enrollment.createToken('test');
  const { machineId } = await enroll(agentUrl, token, agentDir, inventory({ hostname: 'scanned' }));
  const agent = testAgent(agentDir, { scanRoots: [scanRoot], ...over }, on);
  agents.push(agent);
  await agent.start();
  await wait(() => expect(h.server.gateway.isConnected(machineId)).toBe(true));
  return { agent, machineId };
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

describe('RunAntiVirusScan on a real agent', () => {
  it('finds what the rules and indicators say on real files, and every detection becomes an alert with its evidence', async () => {
    const tree = join(dir, 'tree');
    mkdirSync(join(tree, 'www'), { recursive: true });
    writeFileSync(join(tree, 'eicar.com'), EICAR);
    writeFileSync(join(tree, 'www', 'shell.php'), '<?php // team-webshell-3c1d\n');
    writeFileSync(join(tree, 'archive.zip'), await zip([['docs/readme.txt', Buffer.from('hello')], ['docs/eicar.txt', EICAR]]));
    const dropper = Buffer.from('#!/bin/sh\necho a dropper nobody wrote a rule for\n');
    writeFileSync(join(tree, 'dropper.sh'), dropper);
    for (let i = 0; i < 20; i++) writeFileSync(join(tree, `clean-${i}.txt`), `nothing ${i}\n`);
    const dropperSha = createHash('sha256').update(dropper).digest('hex');

    const { agent, machineId } = await startAgent(tree);
    expect((await h.call('POST', '/api/rulepacks', { body: { name: 'team', source: TEAM_RULE } })).status).toBe(201);
    expect((await h.call('POST', '/api/indicators', { body: { IndicatorValue: dropperSha, IndicatorType: 'FileSha256', Action: 'Alert', Title: 'known dropper', Severity: 'Medium' } })).status).toBe(200);
    await wait(() => expect(agent.indicators.version).toBe(1));
    // The rule pack arrives the same way (content frame, verified download).
    await wait(async () => expect((await h.server.services.content.latest('rulepack', 'default'))?.manifest.version).toBe(1));

    const submitted = await h.call('POST', `/api/machines/${machineId}/runAntiVirusScan`, { body: { Comment: 'planted files', ScanType: 'Quick' } });
    expect(submitted.status).toBe(201);
    let action: Record<string, any> = {};
    await wait(async () => {
      action = (await h.call('GET', `/api/machineactions/${submitted.body.id}`)).body;
      expect([action.status, action.error]).toEqual(['Succeeded', null]);
    }, 60_000);
    expect(action.scope).toBe('Quick');
    expect(action.result).toMatchObject({ scanType: 'Quick', files: 24, archiveMembers: 2, detections: 4, skipped: 0, cpuPercentCap: 50, rules: { packs: [{ name: 'team', version: 1 }] }, hashIndicators: 1 });
    expect(action.result.detectionList.map((d: { threat: string; path: string }) => [d.threat, d.path.slice(tree.length + 1)]).sort()).toEqual([
      ['EICAR_Test_File', 'archive.zip!docs/eicar.txt'],
      ['EICAR_Test_File', 'eicar.com'],
      ['Team_Webshell_Marker', 'www/shell.php'],
      ['known dropper', 'dropper.sh'],
    ]);

    // Each detection is an alert on the device, with the file's hashes and owner.
    let alerts: Record<string, any>[] = [];
    await wait(async () => {
      alerts = (await h.call('GET', `/api/alerts?$filter=machineId eq '${machineId}'`)).body.value;
      expect(alerts).toHaveLength(4);
    });
    const shell = alerts.find((a) => a.threatName === 'Team_Webshell_Marker')!;
    expect(shell).toMatchObject({ title: "'Team_Webshell_Marker' threat was detected", severity: 'High', category: 'Execution', detectionSource: 'Antivirus' });
    expect(shell.evidence[0]).toMatchObject({ entityType: 'File', filePath: join(tree, 'www', 'shell.php'), fileName: 'shell.php', accountName: 'root', detectionStatus: 'Detected', sha256: createHash('sha256').update('<?php // team-webshell-3c1d\n').digest('hex') });
    expect(alerts.find((a) => a.threatName === 'known dropper')).toMatchObject({ severity: 'Medium' });
    // And the scan's result links each detection to its alert.
    const linked = (await h.call('GET', `/api/machineactions/${submitted.body.id}`)).body.result.detectionList as { threat: string; alertId: string }[];
    expect(linked.map((d) => [d.threat, d.alertId]).sort()).toEqual(alerts.map((a) => [a.threatName, a.id]).sort());
  }, 90_000);

  it('shows progress while it runs, refuses a second scan, and stops within a second when cancelled', async () => {
    const tree = join(dir, 'big');
    mkdirSync(tree);
    const chunk = Buffer.alloc(1024 * 1024, 1);
    for (let i = 0; i < 300; i++) writeFileSync(join(tree, `f${i}.bin`), chunk);
    const { machineId } = await startAgent(tree);
    // At 5 % of the machine, 300 MB take far longer than this test waits.
    const submitted = await h.call('POST', `/api/machines/${machineId}/runAntiVirusScan`, { body: { Comment: 'slow', ScanType: 'Full', CpuPercent: 5 } });
    expect(submitted.status).toBe(201);
    let action: Record<string, any> = {};
    await wait(async () => {
      action = (await h.call('GET', `/api/machineactions/${submitted.body.id}`)).body;
      expect(action.progress?.message).toMatch(/^[\d,]+ files · \d+ MB · 0 detections/);
    });
    expect(action.status).toBe('InProgress');
    const second = await h.call('POST', `/api/machines/${machineId}/runAntiVirusScan`, { body: { Comment: 'again', ScanType: 'Quick' } });
    expect([second.status, second.body.error.code]).toEqual([400, 'ActiveRequestAlreadyExists']);

    const index = join(dir, 'agent', 'scan', 'index.jsonl');
    expect(existsSync(index)).toBe(false);
    const cancelled = await h.call('POST', `/api/machineactions/${submitted.body.id}/cancel`, { body: { Comment: 'enough' } });
    expect([cancelled.status, cancelled.body.status]).toEqual([200, 'Cancelled']);
    const at = performance.now();
    // The scan ends (and writes what it read to its index) within a second of the cancel.
    await wait(() => expect(existsSync(index)).toBe(true), 1000);
    expect(performance.now() - at).toBeLessThan(1000);
    expect(readFileSync(index, 'utf8').split('\n').filter(Boolean).length).toBeLessThan(300);
  }, 60_000);

  it('adds ClamAV where it is installed with a database (one the test writes): its detection is an alert too', async () => {
    const tree = join(dir, 'clam-tree');
    const db = join(dir, 'clam-db');
    mkdirSync(tree);
    mkdirSync(db);
    writeFileSync(join(db, 'team.ndb'), `Team.Clam.Marker:0:*:${Buffer.from('team-clam-9b2e').toString('hex')}\n`);
    writeFileSync(join(tree, 'note.txt'), 'only ClamAV knows this: team-clam-9b2e\n');
    const { machineId } = await startAgent(tree, { scanClamavDatabaseDir: db, scanClamdSocket: join(db, 'none.sock') });
    const submitted = await h.call('POST', `/api/machines/${machineId}/runAntiVirusScan`, { body: { Comment: 'clam', ScanType: 'Quick' } });
    let action: Record<string, any> = {};
    await wait(async () => {
      action = (await h.call('GET', `/api/machineactions/${submitted.body.id}`)).body;
      expect(action.status).toBe('Succeeded');
    }, 30_000);
    expect(action.result).toMatchObject({ engines: ['YARA-X', expect.stringMatching(/^ClamAV 1\.\d.*\(clamscan\)$/)], detections: 1, clamav: { files: 1, problems: 0 } });
    await wait(async () => expect((await h.call('GET', `/api/alerts?$filter=machineId eq '${machineId}'`)).body.value.map((a: { threatName: string }) => a.threatName)).toEqual(['Team.Clam.Marker.UNOFFICIAL']));
  }, 40_000);

  it('lists a detection still being reported when the scan ends (its processes looked up slowly, as on a loaded machine)', async () => {
    const tree = join(dir, 'slow-lookup');
    mkdirSync(tree);
    writeFileSync(join(tree, 'eicar.com'), EICAR);
    const chunk = Buffer.alloc(1024 * 1024, 2);
    for (let i = 0; i < 24; i++) writeFileSync(join(tree, `f${i}.bin`), chunk);
    // The progress tick reports the detection and waits here; the scan ends meanwhile.
    const slow = { ...hostSafePlatform, processesUsing: async () => (await new Promise((r) => setTimeout(r, 4000)), new Map()) };
    const { machineId } = await startAgent(tree, {}, slow);
    const submitted = await h.call('POST', `/api/machines/${machineId}/runAntiVirusScan`, { body: { Comment: 'slow lookup', ScanType: 'Full', CpuPercent: 10 } });
    expect(submitted.status).toBe(201);
    let action: Record<string, any> = {};
    await wait(async () => {
      action = (await h.call('GET', `/api/machineactions/${submitted.body.id}`)).body;
      expect(action.status).toBe('Succeeded');
    }, 40_000);
    expect(action.result.detections).toBe(1);
    expect(action.result.detectionList).toHaveLength(1);
  }, 60_000);

  it('refuses a CPU share out of range, naming the field', async () => {
    const { machineId } = await startAgent(dir);
    const r = await h.call('POST', `/api/machines/${machineId}/runAntiVirusScan`, { body: { Comment: 'x', ScanType: 'Quick', CpuPercent: 2 } });
    expect([r.status, r.body.error.message]).toEqual([400, "CpuPercent: must be 5 to 100 (percent of the device's CPU)"]);
  });
});
