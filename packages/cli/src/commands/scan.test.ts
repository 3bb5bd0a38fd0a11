/**
 * `cordon scan` against a real server (the harness, listening) and a real agent in this process
 * whose scans read a tree the test plants: a live progress bar, the summary with each detection's
 * alert and the skipped files by reason; a failed scan exits non-zero; Ctrl-C (a real SIGINT to a
 * real `cordon` process) stops the waiting, not the scan.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Agent, currentPlatform, enroll, loadAgentConfig } from '@cordon/agent';
import { inventory, startHarness, type Harness } from '@cordon/server/testing';
import { runCordon } from '../testing/run-cordon.js';

const CORDON = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'bin', 'cordon.mjs');
// Built at run time from two halves: no antivirus flags this file.
const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-' + 'ANTIVIRUS-TEST-FILE!$H+H*');

/** This machine's firewall is never asked or touched. */
const platform = {
  ...currentPlatform(),
  firewall: { check: async () => ({ ok: true as const, version: 'test' }), apply: async () => {}, remove: async () => {}, active: async () => false },
  indicatorFirewall: { apply: async () => {}, remove: async () => {}, active: async () => false, counts: async () => new Map<string, number>() },
  releasePrograms: async () => {},
};

const wait = (check: () => void | Promise<void>, timeout = 30_000) => vi.waitFor(check, { timeout, interval: 100 });

let h: Harness;
let dir: string;
let tree: string;
let agent: Agent;
let machineId: string;
let apiUrl: string;
const conn = () => ['--server', apiUrl, '--token', h.tokens.admin];

beforeAll(async () => {
  h = await startHarness();
  h.clock.t = Date.now();
  const listening = await h.server.listen();
  apiUrl = listening.apiUrl;
  dir = mkdtempSync(join(tmpdir(), 'cordon-cli-scan-'));
  tree = join(dir, 'tree');
  mkdirSync(join(tree, 'home', '.cache'), { recursive: true });
  writeFileSync(join(tree, 'home', '.cache', 'eicar.com'), EICAR);
  writeFileSync(join(tree, 'big.iso'), Buffer.alloc(2 * 1024 * 1024, 7));
  // Enough to read that a scan at 5% of the CPU runs for a while: its progress shows.
  for (let i = 0; i < 120; i++) writeFileSync(join(tree, `data-${i}.bin`), Buffer.alloc(1000 * 1024, i));
  const agentDir = join(dir, 'agent');
  const { token } = await h.server.services.enrollment.createToken('test');
  ({ machineId } = await enroll(listening.agentUrl, token, agentDir, inventory({ hostname: 'scan-cli-01' })));
  agent = new Agent(loadAgentConfig({ dataDir: agentDir, reconnectMaxSeconds: 1, isolationWatchSeconds: 3600, scanRoots: [tree], scanMaxFileMb: 1 }, {}), { logger: pino({ level: 'silent' }), platform });
  await agent.start();
  await wait(() => expect(h.server.gateway.isConnected(machineId)).toBe(true));
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** The action submitted with this comment (the harness's clock stands still: every action has the same time). */
async function actionWith(comment: string): Promise<Record<string, any>> {
  const list = (await h.call('GET', `/api/machineactions?$filter=machineId eq '${machineId}'`)).body.value as Record<string, any>[];
  const found = list.find((a) => a.requestorComment === comment);
  if (!found) throw new Error(`no action with the comment '${comment}'`);
  return found;
}

/** Runs `cordon …` in this process with stderr on a terminal (as people run it); answers stdout and stderr. */
async function onTerminal(args: string[]): Promise<{ stdout: string; stderr: string }> {
  let stderr = '';
  const write = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  const tty = Object.getOwnPropertyDescriptor(process.stderr, 'isTTY');
  Object.defineProperty(process.stderr, 'isTTY', { value: true, configurable: true });
  try {
    return { stdout: await runCordon(args), stderr };
  } finally {
    write.mockRestore();
    if (tty) Object.defineProperty(process.stderr, 'isTTY', tty);
    else delete (process.stderr as { isTTY?: boolean }).isTTY;
  }
}

describe('cordon scan', () => {
  it('runs a Quick scan under the CPU share given, with a live progress bar, then says what it found: each detection with its alert, and what it skipped and why', async () => {
    const { stdout, stderr } = await onTerminal(['scan', machineId, '--type', 'quick', '--cpu', '10', '--comment', 'planted EICAR', '--wait', ...conn()]);
    const action = await actionWith('planted EICAR');
    expect(action).toMatchObject({ type: 'RunAntiVirusScan', scope: 'Quick', status: 'Succeeded', parameters: { scanType: 'Quick', cpuPercent: 10 } });

    // The bar is redrawn in place: "\r", clear the line, status, bar, percent and the agent's message.
    const frames = stderr.split('\r\x1b[K').filter(Boolean);
    expect(frames.some((f) => /^InProgress \[#*\.*\] \d+% [\d,]+ files · \d+ MB · \d detections?/.test(f))).toBe(true);
    expect(stderr.endsWith('\n')).toBe(true);

    const alerts = (await h.call('GET', `/api/alerts?$filter=machineId eq '${machineId}'`)).body.value as { id: string; threatName: string }[];
    expect(alerts.map((a) => a.threatName)).toEqual(['EICAR_Test_File']);
    expect(stdout).toContain(action.id);
    expect(stdout).toMatch(/Quick scan: 121 files, \d+\.\d MB in \d+\.\d s, at [\d.]+% CPU \(cap 10%\)/);
    expect(stdout).toContain('1 detection:');
    const row = stdout.split('\n').find((l) => l.includes('EICAR_Test_File'))!;
    expect(row).toContain(join(tree, 'home', '.cache', 'eicar.com'));
    expect(row).toContain(alerts[0]!.id);
    expect(stdout).toContain('Skipped 1 file: 1 over the size limit');
    // Long enough at 10% (and so at 5%) for the later tests to catch one running.
    expect(action.result.durationMs).toBeGreaterThan(3000);

    // Scripts get the action with its result (and alert ids), and a clean stderr.
    const json = JSON.parse(await runCordon(['scan', machineId, '--type', 'FULL', '--comment', 'again', '--wait', '--json', ...conn()]));
    expect(json).toMatchObject({ scope: 'Full', status: 'Succeeded', result: { detections: 1, skippedByReason: { TooLarge: 1 } } });
    // Each scan's detection is an alert of its own.
    const again = (await h.call('GET', `/api/alerts?$filter=machineId eq '${machineId}'`)).body.value as { id: string }[];
    expect(again).toHaveLength(2);
    expect(json.result.detectionList[0].alertId).toBe(again.find((a) => a.id !== alerts[0]!.id)!.id);
  }, 120_000);

  it('refuses a CPU share or scan type it cannot take, before asking the server', async () => {
    await expect(runCordon(['scan', machineId, '--cpu', '2', '--comment', 'x', ...conn()], { quiet: true })).rejects.toThrow(/--cpu <n>' argument '2' is invalid\. must be a whole number from 5 to 100/);
    await expect(runCordon(['scan', machineId, '--type', 'deep', '--comment', 'x', ...conn()], { quiet: true })).rejects.toThrow(/Allowed choices are Quick, Full/);
  });

  it('exits non-zero, saying why, when the scan does not succeed', async () => {
    const run = runCordon(['scan', machineId, '--cpu', '5', '--comment', 'to be cancelled', '--wait', ...conn()], { quiet: true });
    let id = '';
    await wait(async () => {
      const a = await actionWith('to be cancelled');
      expect(a.status).toBe('InProgress');
      id = a.id;
    });
    expect((await h.call('POST', `/api/machineactions/${id}/cancel`, { body: { Comment: 'enough' } })).status).toBe(200);
    await expect(run).rejects.toThrow(`action ${id} ended Cancelled`);
  }, 60_000);

  it('on Ctrl-C stops waiting and says how to follow or cancel the scan, which goes on', async () => {
    const child = spawn(process.execPath, [CORDON, 'scan', machineId, '--cpu', '5', '--comment', 'interrupted', '--wait', ...conn()], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      // Not a terminal: one line per change.
      await wait(() => expect(stderr).toMatch(/^InProgress \d+% [\d,]+ files · /m), 60_000);
      child.kill('SIGINT');
      expect(await exited).toBe(130);
    } finally {
      child.kill('SIGKILL');
    }
    const a = await actionWith('interrupted');
    expect(a.status).toBe('InProgress');
    expect(stderr).toContain(`cordon: stopped waiting; the action goes on on ${a.computerDnsName} (Ctrl-C does not cancel it). Follow it with: cordon action ${a.id}; cancel it with: cordon cancel ${a.id} --comment "…"`);
    expect((await h.call('POST', `/api/machineactions/${a.id}/cancel`, { body: { Comment: 'done' } })).status).toBe(200);
  }, 120_000);
});
