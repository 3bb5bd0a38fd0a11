/**
 * Run antivirus scan end to end with a real agent process: the CPU cap measured from outside (the
 * agent's own CPU time in /proc, over the scan's run) holds at 25 % of the machine within ±10
 * points, and the scan still finds what was planted.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CordonClient } from '@cordon/cli/client';
import { cleanup, cordon, CordonProcess, freePort, sleep, tempDir, until } from './helpers.js';

const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-' + 'ANTIVIRUS-TEST-FILE!$H+H*');

let serverDir: string;
let agentDir: string;
let corpus: string;
let server: CordonProcess;
let agent: CordonProcess;
let api: CordonClient;
let machineId: string;

/** A process's CPU time so far (user + system), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) / 100;
}

beforeAll(async () => {
  serverDir = tempDir('scan-server');
  agentDir = tempDir('scan-agent');
  corpus = tempDir('scan-corpus');
  // 240 files of 1 MiB of varied bytes: several seconds of scanning at a quarter of the machine.
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 240; i++) {
    for (let j = 0; j < chunk.length; j += 4) chunk.writeUInt32LE(((i + 1) * (j + 7) * 2654435761) >>> 0, j);
    writeFileSync(join(corpus, `data-${i}.bin`), chunk);
  }
  writeFileSync(join(corpus, 'eicar.com'), EICAR);
  // And inside a tar.gz: the agent runs from the bundle, which must load the same tar-stream the sources do.
  const inner = tempDir('scan-inner');
  mkdirSync(join(inner, 'payload'));
  writeFileSync(join(inner, 'payload', 'readme.com'), EICAR);
  execFileSync('tar', ['-czf', join(corpus, 'backup.tar.gz'), '-C', inner, 'payload']);
  cleanup([inner]);
  const port = await freePort();
  const agentPort = await freePort();
  server = new CordonProcess(['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_RATE_LIMIT_PER_MINUTE: '0' });
  const token = await server.line(/^admin token: (\S+)$/m);
  api = new CordonClient(`http://127.0.0.1:${port}`, token);
  const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim();
  const enrolled = await cordon(['agent', 'enroll', '--server', `https://127.0.0.1:${agentPort}`, '--token', enrollment, '--data-dir', agentDir]);
  expect(enrolled.code, enrolled.stderr).toBe(0);
  machineId = JSON.parse(readFileSync(join(agentDir, 'enrollment.json'), 'utf8')).machineId;
  // ClamAV off: its processes' CPU is counted only once they end, and this test measures the agent alone.
  agent = new CordonProcess(['agent', 'run', '--data-dir', agentDir], { CORDON_AGENT_SCAN_ROOTS: corpus, CORDON_AGENT_SCAN_CLAMAV: 'off' });
  await until('agent online', async () => (await api.machine(machineId)).isConnected);
}, 90_000);

afterAll(async () => {
  await Promise.all([agent?.kill('SIGKILL'), server?.kill('SIGKILL')]);
  cleanup([serverDir, agentDir, corpus]);
});

describe('antivirus scan with a real agent', () => {
  it('stays within ±10 points of a 25 % CPU cap over its run, measured from outside, and finds what was planted', async () => {
    const pid = agent.child.pid!;
    const submitted = await api.submit(machineId, 'runAntiVirusScan', { Comment: 'cap check', ScanType: 'Full', CpuPercent: 25 });
    await until('scan running', async () => (await api.action(submitted.id)).status === 'InProgress');
    const cpu0 = cpuSeconds(pid);
    const t0 = performance.now();
    let action = await api.action(submitted.id);
    while (action.status === 'InProgress') {
      await sleep(100);
      action = await api.action(submitted.id);
    }
    const cpu = cpuSeconds(pid) - cpu0;
    const wall = (performance.now() - t0) / 1000;
    const share = (cpu / wall / availableParallelism()) * 100;
    expect(action.status, action.error ?? '').toBe('Succeeded');
    console.info(`scan at a 25 % cap: ${share.toFixed(1)} % of the machine over ${wall.toFixed(1)} s`);
    expect(wall).toBeGreaterThan(2);
    expect(share, `CPU ${cpu.toFixed(2)} s over ${wall.toFixed(2)} s on ${availableParallelism()} cores`).toBeGreaterThan(15);
    expect(share).toBeLessThan(35);
    expect(action.result).toMatchObject({ files: 242, detections: 2, skipped: 0, cpuPercentCap: 25 });
    expect((action.result as { detectionList: { path: string }[] }).detectionList.map((d) => d.path.slice(corpus.length + 1)).sort()).toEqual(['backup.tar.gz!payload/readme.com', 'eicar.com']);
  }, 120_000);
});
