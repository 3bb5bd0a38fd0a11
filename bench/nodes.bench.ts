/**
 * Benchmark (issue 14): N simulated agents on two server nodes sharing one PostgreSQL, against the
 * same fleet on one node with SQLite, measured in the same run on this machine.
 *   - server RSS per connected agent (the nodes' growth over idle, summed; PostgreSQL's own memory is not counted)
 *   - fan-out of one bulk action to every agent, submitted on one node: ack p99 per agent
 *   - SIGKILL of one node: time until every agent is connected again (to the other node)
 *   - the store's size with N devices enrolled and one fleet-wide action done
 * Targets: PostgreSQL fan-out p99 within 1.5x the SQLite node's; all agents of the killed node back
 * within 60 s; RSS per agent no worse than on SQLite.
 *
 *   npm run bench:nodes                      # 10,000 agents
 *   BENCH_AGENTS=1000 npm run bench:nodes    # quicker
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { pino } from 'pino';
import { createCordonServer, loadServerConfig, type ServerConfigInput } from '@cordon/server';
import { startTestPostgres } from '../packages/server/src/testing/postgres.js';
import { freePort, ROOT, CORDON } from '../e2e/helpers.js';
import { connectFleet, inventoryFor, type SimAgent } from './sim-agents.js';

const N = Number(process.env.BENCH_AGENTS ?? 10_000);
const HEARTBEAT = 30;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const log = (s: string) => process.stderr.write(`${s}\n`);
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;

/** Enrolls N devices through the server's own services; answers their credentials. */
async function seed(config: ServerConfigInput): Promise<{ agents: SimAgent[]; ca: string; adminToken: string }> {
  const s = await createCordonServer(loadServerConfig({ logLevel: 'silent', ...config }, {}), { logger: pino({ level: 'silent' }) });
  const secret = (await s.services.enrollment.createToken('bench')).token.split('.')[1]!;
  const agents: SimAgent[] = [];
  for (let i = 0; i < N; i++) {
    const r = await s.services.enrollment.enroll(secret, inventoryFor(i));
    agents.push({ machineId: r.machineId, credential: r.credential });
  }
  const out = { agents, ca: s.keys.caCertPem, adminToken: s.initialAdminToken! };
  await s.close();
  return out;
}

interface Node {
  child: ChildProcess;
  api: string;
  agentUrl: string;
}

async function startNode(dataDir: string, databaseUrl?: string): Promise<Node> {
  const [port, agentPort] = [await freePort(), await freePort()];
  const args = [CORDON, 'server', '--data-dir', dataDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort), '--log-level', 'warn', ...(databaseUrl ? ['--database-url', databaseUrl] : [])];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, CORDON_RATE_LIMIT_PER_MINUTE: '0' } });
  let out = '';
  const agentUrl = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /^agents: (\S+)$/m.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (c) => reject(new Error(`node exited ${c} before listening`)));
  });
  return { child, api: `http://127.0.0.1:${port}`, agentUrl };
}

/** RSS of each node, median of one sample a second over `seconds`. */
async function steadyRss(nodes: Node[], seconds: number): Promise<number[]> {
  const samples: number[][] = nodes.map(() => []);
  for (let s = 0; s < seconds; s++) {
    await sleep(1000);
    nodes.forEach((n, i) => samples[i]!.push(rssMb(n.child.pid!)));
  }
  return samples.map((x) => pct(x.sort((a, b) => a - b), 50));
}

async function fanOut(api: string, adminToken: string, ackTimes: number[]): Promise<{ p50: number; p99: number }> {
  const before = ackTimes.length;
  const start = performance.now();
  const r = await fetch(`${api}/api/machineactions/bulk`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ Type: 'RefreshInventory', Comment: 'bench: fleet-wide action', Filter: "osPlatform eq 'Linux'" }) });
  if (r.status !== 201) throw new Error(`bulk submit answered ${r.status}: ${await r.text()}`);
  await r.arrayBuffer();
  while (ackTimes.length - before < N && performance.now() - start < 120_000) await sleep(20);
  const lat = ackTimes.slice(before).map((t) => t - start).sort((a, b) => a - b);
  if (lat.length < N) log(`  only ${lat.length} of ${N} agents got the command within 120 s`);
  return { p50: pct(lat, 50), p99: pct(lat, 99) };
}

async function main(): Promise<void> {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const postgres = await startTestPostgres();
  try {
    // --- one node on SQLite ---
    const sqliteDir = mkdtempSync(join(tmpdir(), 'cordon-bench-sqlite-'));
    dirs.push(sqliteDir);
    log(`seeding ${N} devices on SQLite…`);
    const s = await seed({ dataDir: sqliteDir });
    const single = await startNode(sqliteDir);
    children.push(single.child);
    await sleep(2000);
    const [singleIdle] = await steadyRss([single], 3);
    const singleFleet = await connectFleet(single.agentUrl, s.ca, s.agents, { heartbeatSeconds: HEARTBEAT, concurrency: 100 });
    log(`  ${singleFleet.connected()} agents connected to the SQLite node`);
    const [singleLoaded] = await steadyRss([single], 10);
    const singleFan = await fanOut(single.api, s.adminToken, singleFleet.ackTimes);
    await singleFleet.close();
    single.child.kill('SIGTERM');
    const sqliteBytes = statSync(join(sqliteDir, 'cordon.db')).size + (statSync(join(sqliteDir, 'cordon.db-wal'), { throwIfNoEntry: false })?.size ?? 0);

    // --- two nodes on PostgreSQL ---
    const admin = new pg.Client({ connectionString: postgres.url() });
    await admin.connect();
    await admin.query('create database cordon_bench');
    const databaseUrl = postgres.url('cordon_bench');
    const pgDir = mkdtempSync(join(tmpdir(), 'cordon-bench-pg-'));
    dirs.push(pgDir);
    log(`seeding ${N} devices on PostgreSQL…`);
    const p = await seed({ dataDir: pgDir, databaseUrl });
    const a = await startNode(pgDir, databaseUrl);
    const b = await startNode(pgDir, databaseUrl);
    children.push(a.child, b.child);
    await sleep(2000);
    const idle = await steadyRss([a, b], 3);
    // Half the fleet calls each node home; each agent's other node is its fallback.
    const fleet = await connectFleet((i) => (i % 2 ? [a.agentUrl, b.agentUrl] : [b.agentUrl, a.agentUrl]), p.ca, p.agents, { heartbeatSeconds: HEARTBEAT, concurrency: 100 });
    log(`  ${fleet.connected()} agents connected to two PostgreSQL nodes`);
    const loaded = await steadyRss([a, b], 10);
    const dbSize = async () => Number((await admin.query<{ n: string }>("select pg_database_size('cordon_bench') as n")).rows[0]!.n);
    const enrolledBytes = await dbSize();
    const pgFan = await fanOut(a.api, p.adminToken, fleet.ackTimes);
    await sleep(6000); // acks and results stored
    const pgBytes = await dbSize();

    // SIGKILL node B: its agents move to node A.
    const killedAt = performance.now();
    b.child.kill('SIGKILL');
    await sleep(200);
    while (fleet.connectedNow() < N && performance.now() - killedAt < 120_000) await sleep(50);
    const failoverS = (performance.now() - killedAt) / 1000;
    const back = fleet.connectedNow();
    await fleet.close();
    await admin.end();

    const singlePerAgent = ((singleLoaded! - singleIdle!) * 1024) / N;
    const pgPerAgent = ((loaded[0]! - idle[0]! + (loaded[1]! - idle[1]!)) * 1024) / N;
    const row = (name: string, x: number, y: number, unit: string, digits = 1) => `| ${name} | ${x.toFixed(digits)} ${unit} | ${y.toFixed(digits)} ${unit} | ${(x / y).toFixed(2)}× |`;
    const lines = [
      `agents: ${N}, heartbeat ${HEARTBEAT} s, ${new Date().toISOString()}`,
      '| metric | two nodes, PostgreSQL | one node, SQLite | ratio |',
      '| --- | --- | --- | --- |',
      row('server RSS per connected agent (all nodes)', pgPerAgent, singlePerAgent, 'KB'),
      row('server RSS with the fleet connected (all nodes, median)', loaded[0]! + loaded[1]!, singleLoaded!, 'MB'),
      row('bulk action fan-out: ack p50 per agent', pgFan.p50, singleFan.p50, 'ms', 0),
      row('bulk action fan-out: ack p99 per agent', pgFan.p99, singleFan.p99, 'ms', 0),
      row(`store size (${N} devices, one fleet-wide action)`, pgBytes / 1048576, sqliteBytes / 1048576, 'MB'),
      `| PostgreSQL: ${N} devices enrolled and connected; one fleet-wide action adds | ${(enrolledBytes / 1048576).toFixed(1)} MB; ${((pgBytes - enrolledBytes) / 1048576).toFixed(1)} MB (${((pgBytes - enrolledBytes) / N / 1024).toFixed(1)} KB per device) | — | — |`,
      `| SIGKILL of one node: all ${N} agents connected again | ${failoverS.toFixed(1)} s (${back}/${N}) | — | — |`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    const pass = pgFan.p99 <= 1.5 * singleFan.p99 && back === N && failoverS <= 60 && pgPerAgent <= singlePerAgent * 1.05;
    process.stdout.write(
      `RESULT: ${N} agents: fan-out p99 ${pgFan.p99.toFixed(0)} ms on two PostgreSQL nodes vs ${singleFan.p99.toFixed(0)} ms on one SQLite node (${(pgFan.p99 / singleFan.p99).toFixed(2)}x, target <= 1.5x); all agents back ${failoverS.toFixed(1)} s after SIGKILL of a node (target <= 60 s); RSS per agent ${pgPerAgent.toFixed(1)} KB vs ${singlePerAgent.toFixed(1)} KB ${pass ? '(targets met)' : '(TARGET MISSED)'}\n`,
    );
  } finally {
    for (const c of children) c.kill('SIGKILL');
    await postgres.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
}

await main();
