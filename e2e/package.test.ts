/**
 * Collect investigation package end to end: a real server, a real agent on this machine (it only
 * reads), the zip streamed to the server while it is produced, and the CLI downloading it through
 * GetPackageUri. The zip and its report are opened with independent readers.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CordonClient } from '@cordon/cli/client';
import { readZip, summaryRows } from '../packages/agent/src/testing/zip.js';
import { cleanup, cordon, CordonProcess, freePort, tempDir, until } from './helpers.js';

const FOLDERS = ['Autoruns', 'Installed programs', 'Network connections', 'Recent executions', 'Processes', 'Scheduled tasks', 'Security event log', 'Services', 'SMB sessions', 'System Information', 'Temp Directories', 'Users and Groups', 'Support logs'];

let serverDir: string;
let agentDir: string;
/** The agent walks these instead of the host's temp and program directories, which other test files write to meanwhile. */
let walkTemp: string;
let walkPrograms: string;
let outDir: string;
let server: CordonProcess;
let agent: CordonProcess;
let api: CordonClient;
let env: Record<string, string>;
let machineId: string;

beforeAll(async () => {
  serverDir = tempDir('pkg-server');
  agentDir = tempDir('pkg-agent');
  outDir = tempDir('pkg-out');
  walkTemp = tempDir('pkg-walk-temp');
  walkPrograms = tempDir('pkg-walk-programs');
  writeFileSync(join(walkTemp, 'staged.txt'), 'left by an attacker\n');
  writeFileSync(join(walkPrograms, 'dropper'), '#!/bin/sh\n', { mode: 0o755 });
  const port = await freePort();
  const agentPort = await freePort();
  server = new CordonProcess(['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_RATE_LIMIT_PER_MINUTE: '0' });
  const token = await server.line(/^admin token: (\S+)$/m);
  env = { CORDON_SERVER: `http://127.0.0.1:${port}`, CORDON_TOKEN: token };
  api = new CordonClient(env.CORDON_SERVER!, token);
  const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim();
  const enrolled = await cordon(['agent', 'enroll', '--server', `https://127.0.0.1:${agentPort}`, '--token', enrollment, '--data-dir', agentDir]);
  expect(enrolled.code, enrolled.stderr).toBe(0);
  machineId = JSON.parse(readFileSync(join(agentDir, 'enrollment.json'), 'utf8')).machineId;
  agent = new CordonProcess(['agent', 'run', '--data-dir', agentDir], { CORDON_AGENT_LOG_LEVEL: 'info', CORDON_AGENT_PACKAGE_TEMP_DIRS: walkTemp, CORDON_AGENT_PACKAGE_PROGRAM_DIRS: walkPrograms });
  await until('agent online', async () => (await api.machine(machineId)).isConnected);
}, 90_000);

afterAll(async () => {
  await Promise.all([agent?.kill('SIGKILL'), server?.kill('SIGKILL')]);
  cleanup([serverDir, agentDir, outDir, walkTemp, walkPrograms]);
});

describe('investigation package end to end', () => {
  it('collects from the CLI, and the zip holds every folder with real data, the report and matching hashes', async () => {
    const file = join(outDir, 'package.zip');
    const r = await cordon(['package', machineId, '--comment', 'suspicious cron job', '-o', file, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    const bytes = readFileSync(file);
    expect(out).toMatchObject({ actionId: expect.any(String), file, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(out.result).toMatchObject({ size: bytes.length, sha256: out.sha256, collectors: FOLDERS.length });

    const entries = await readZip(file);
    for (const folder of FOLDERS) expect([...entries.keys()].some((k) => k.startsWith(`${folder}/`)), folder).toBe(true);
    const rows = await summaryRows(entries.get('CollectionSummaryReport.xlsx')!);
    const listed = new Set(rows.map((row) => `${String(row.Folder)}/${String(row.File)}`));
    for (const name of entries.keys()) if (name !== 'CollectionSummaryReport.xlsx') expect(listed.has(name), name).toBe(true);
    // Real data: this machine's hostname, and the agent's own process with its executable's hash.
    expect(entries.get('System Information/SystemInformation.txt')!.toString()).toContain(readFileSync('/proc/sys/kernel/hostname', 'utf8').trim());
    const processes = entries.get('Processes/Processes.csv')!.toString();
    const agentLine = processes.split('\n').find((l) => l.startsWith(`${agent.child.pid},`));
    expect(agentLine, 'the agent process is listed').toBeDefined();
    expect(agentLine).toContain(createHash('sha256').update(readFileSync(process.execPath)).digest('hex'));
    // File listings walk only the directories the agent was told to (never the host's /tmp, /root or /home here).
    const tempListings = [...entries.keys()].filter((k) => k.startsWith('Temp Directories/'));
    expect(tempListings).toHaveLength(1);
    expect(entries.get(tempListings[0]!)!.toString().trim().split('\n').slice(1)).toEqual([expect.stringMatching(new RegExp(`^${join(walkTemp, 'staged.txt')},file,`))]);
    const recent = entries.get('Recent executions/RecentlyChangedExecutables.csv')!.toString().trim().split('\n').slice(1);
    expect(recent).toEqual([expect.stringMatching(new RegExp(`^${join(walkPrograms, 'dropper')},`))]);
    // The device credential never leaves the device.
    const credential = JSON.parse(readFileSync(join(agentDir, 'enrollment.json'), 'utf8')).credential as string;
    for (const [, content] of entries) expect(content.includes(credential)).toBe(false);

    // The API: GetPackageUri gives a working, short-lived link; the timeline and the package list show it.
    const uri = await api.packageUri(out.actionId);
    const again = Buffer.from(await (await fetch(uri.value)).arrayBuffer());
    expect(createHash('sha256').update(again).digest('hex')).toBe(out.sha256);
    expect((await api.timeline(machineId)).some((e) => e.eventType === 'PackageAvailable' && e.actionId === out.actionId)).toBe(true);
    expect(await api.packages(machineId)).toEqual([expect.objectContaining({ actionId: out.actionId, size: bytes.length, available: true })]);
    const packages = await cordon(['packages', machineId, '--json'], env);
    expect(packages.code, packages.stderr).toBe(0);
    expect(JSON.parse(packages.stdout)).toEqual([expect.objectContaining({ actionId: out.actionId, size: bytes.length, sha256: out.sha256, available: true })]);
    const table = await cordon(['packages', machineId], env);
    expect(table.code, table.stderr).toBe(0);
    const row = table.stdout.split('\n').find((l) => l.includes(out.actionId));
    expect(row).toContain(out.sha256);
    expect(row).toMatch(/│\s*yes\s*│/);

    // An earlier package is downloaded again by its action id.
    const copy = join(outDir, 'again.zip');
    const d = await cordon(['package', '--action', out.actionId, '-o', copy, '--json'], env);
    expect(d.code, d.stderr).toBe(0);
    expect(readFileSync(copy).equals(bytes)).toBe(true);
  }, 180_000);

  it('answers clear one-line errors for bad input', async () => {
    const noComment = await cordon(['package', machineId], env);
    expect(noComment.code).not.toBe(0);
    expect(noComment.stderr.trim()).toBe('cordon: --comment is required: say why you collect this package');
    const refresh = await api.submit(machineId, 'refreshInventory', { Comment: 'not a package' });
    const wrong = await cordon(['package', '--action', refresh.id, '-o', join(outDir, 'x.zip')], env);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stderr.trim().split('\n')).toHaveLength(1);
    expect(wrong.stderr).toMatch(/only CollectInvestigationPackage actions have a package/);
  }, 60_000);
});
