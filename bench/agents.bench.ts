/**
 * Benchmark: N simulated agents against one Cordon server process on this machine.
 *   - server memory per connected agent (RSS growth / N) and total RSS
 *   - idle server CPU with every agent heartbeating every 30 s
 *   - time from submitting one action to the whole fleet (one bulk call) to every agent's ack:
 *     p50/p99 per agent as sent, and until the server has stored all N acks
 * Baseline, same run: a bare `ws` TLS server (bench/baseline-server.ts) and the same fleet.
 * Targets (issue 2): 10,000 agents with server RSS <= 500 MB; all acks within 2 s (p99 per agent).
 *
 *   npm run bench                      # 10,000 agents
 *   BENCH_AGENTS=1000 npm run bench    # quicker
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pino } from 'pino';
import { createCordonServer, loadServerConfig } from '@cordon/server';
import { freePort, ROOT, CORDON } from '../e2e/helpers.js';
import { cpuSeconds } from './process-cpu.js';
import { connectFleet, inventoryFor, type Fleet, type SimAgent } from './sim-agents.js';

const N = Number(process.env.BENCH_AGENTS ?? 10_000);
const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 30);
const HEARTBEAT = 30;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`${s}\n`);

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m![1]) / 1024;
}
function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function httpsJson(url: string, method: string, ca: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, ca, checkServerIdentity: () => undefined }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve(JSON.parse(body)));
    });
    req.on('error', reject);
    req.end();
  });
}

async function waitLine(child: ChildProcess, re: RegExp): Promise<string> {
  let out = '';
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = re.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (c) => reject(new Error(`process exited ${c} before printing ${re}`)));
  });
}

interface Figures {
  idleRss: number;
  /** Median of one sample a second over the idle window: the steady state, whatever GC is doing. */
  loadedRss: number;
  peakRss: number;
  perAgentKb: number;
  idleCpuPct: number;
  ackP50: number;
  ackP99: number;
  ackMax: number;
  allStoredMs: number;
  connectSeconds: number;
}

async function measure(pid: number, url: string, ca: string, agents: SimAgent[], submit: () => Promise<void>, storedCount: () => Promise<number>): Promise<Figures> {
  await sleep(2000);
  const idleRss = rssMb(pid);
  const c0 = performance.now();
  const fleet: Fleet = await connectFleet(url, ca, agents, { heartbeatSeconds: HEARTBEAT, concurrency: 100 });
  const connectSeconds = (performance.now() - c0) / 1000;
  log(`  ${fleet.connected()} agents connected in ${connectSeconds.toFixed(1)} s`);
  await sleep(5000);
  const t0 = cpuSeconds(pid);
  const samples: number[] = [];
  for (let s = 0; s < IDLE_SECONDS; s++) {
    await sleep(1000);
    samples.push(rssMb(pid));
  }
  const idleCpuPct = ((cpuSeconds(pid) - t0) / IDLE_SECONDS) * 100;
  samples.sort((a, b) => a - b);
  const loadedRss = pct(samples, 50);
  const peakRss = samples[samples.length - 1]!;
  log(`  idle CPU ${idleCpuPct.toFixed(2)} % over ${IDLE_SECONDS} s`);
  const start = performance.now();
  await submit();
  let allStoredMs = Number.NaN;
  while (performance.now() - start < 60_000) {
    if ((await storedCount()) >= agents.length) {
      allStoredMs = performance.now() - start;
      break;
    }
    await sleep(20);
  }
  const lat = fleet.ackTimes.map((t) => t - start).sort((a, b) => a - b);
  await fleet.close();
  return { idleRss, loadedRss, peakRss, perAgentKb: ((loadedRss - idleRss) * 1024) / agents.length, idleCpuPct, ackP50: pct(lat, 50), ackP99: pct(lat, 99), ackMax: lat[lat.length - 1] ?? Number.NaN, allStoredMs, connectSeconds };
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cordon-bench-'));
  const children: ChildProcess[] = [];
  try {
    log(`seeding ${N} enrolled devices…`);
    const seed = await createCordonServer(loadServerConfig({ dataDir, logLevel: 'silent' }, {}), { logger: pino({ level: 'silent' }) });
    const adminToken = seed.initialAdminToken!;
    const secret = (await seed.services.enrollment.createToken('bench')).token.split('.')[1]!;
    const agents: SimAgent[] = [];
    for (let i = 0; i < N; i++) {
      const r = await seed.services.enrollment.enroll(secret, inventoryFor(i));
      agents.push({ machineId: r.machineId, credential: r.credential });
    }
    const ca = seed.keys.caCertPem;
    await seed.close();

    // --- Cordon ---
    const [port, agentPort] = [await freePort(), await freePort()];
    const server = spawn(process.execPath, [CORDON, 'server', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort), '--log-level', 'warn'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CORDON_RATE_LIMIT_PER_MINUTE: '0' } });
    children.push(server);
    const agentUrl = await waitLine(server, /^agents: (\S+)$/m);
    const api = `http://127.0.0.1:${port}`;
    log('cordon server:');
    const cordon = await measure(
      server.pid!,
      agentUrl,
      ca,
      agents,
      async () => {
        const r = await fetch(`${api}/api/machineactions/bulk`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ Type: 'RefreshInventory', Comment: 'bench: fleet-wide action', Filter: "osPlatform eq 'Linux'" }) });
        if (r.status !== 201) throw new Error(`bulk submit answered ${r.status}: ${await r.text()}`);
        await r.arrayBuffer();
      },
      async () => {
        const text = await (await fetch(`${api}/metrics`)).text();
        return Number(/cordon_actions_total\{type="RefreshInventory",status="InProgress"\} (\d+)/.exec(text)?.[1] ?? 0);
      },
    );
    server.kill('SIGTERM');

    // --- Baseline: bare ws ---
    const bport = await freePort();
    const keys = join(dataDir, 'keys');
    const base = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'baseline-server.ts'), join(keys, 'server.crt'), join(keys, 'server.key'), String(bport)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(base);
    const baseUrl = await waitLine(base, /^agents: (\S+)$/m);
    log('baseline (bare ws):');
    const bare = await measure(
      base.pid!,
      baseUrl,
      ca,
      agents,
      async () => {
        await httpsJson(`${baseUrl}/submit`, 'POST', ca);
      },
      async () => Number(((await httpsJson(`${baseUrl}/stats`, 'GET', ca)) as { acks: number }).acks),
    );

    const row = (name: string, a: number, b: number, unit: string, digits = 1) => `| ${name} | ${a.toFixed(digits)} ${unit} | ${b.toFixed(digits)} ${unit} | ${(a / b).toFixed(2)}× |`;
    const lines = [
      `agents: ${N}, heartbeat ${HEARTBEAT} s, idle window ${IDLE_SECONDS} s, ${new Date().toISOString()}`,
      '| metric | cordon | bare ws baseline | ratio |',
      '| --- | --- | --- | --- |',
      row('server RSS with all agents connected (median)', cordon.loadedRss, bare.loadedRss, 'MB'),
      row('server RSS with all agents connected (peak)', cordon.peakRss, bare.peakRss, 'MB'),
      row('RSS per connected agent', cordon.perAgentKb, bare.perAgentKb, 'KB'),
      row('idle CPU (one core = 100 %)', cordon.idleCpuPct, bare.idleCpuPct, '%', 2),
      row('ack latency p50 per agent', cordon.ackP50, bare.ackP50, 'ms', 0),
      row('ack latency p99 per agent', cordon.ackP99, bare.ackP99, 'ms', 0),
      row('last ack sent', cordon.ackMax, bare.ackMax, 'ms', 0),
      row('all acks stored by the server', cordon.allStoredMs, bare.allStoredMs, 'ms', 0),
      row('time to connect the fleet', cordon.connectSeconds, bare.connectSeconds, 's'),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const pass = cordon.peakRss <= 500 && cordon.ackP99 <= 2000;
    process.stdout.write(`RESULT: ${N} agents: server RSS ${cordon.loadedRss.toFixed(0)} MB median, ${cordon.peakRss.toFixed(0)} MB peak (target <= 500), ack p99 ${cordon.ackP99.toFixed(0)} ms (target <= 2000), all stored in ${cordon.allStoredMs.toFixed(0)} ms; ${(cordon.ackP99 / bare.ackP99).toFixed(2)}x the bare-ws p99 ${pass ? '(targets met)' : '(TARGET MISSED)'}\n`);
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
