/**
 * Benchmark: alerts — how fast they are taken in, and the queue at size.
 *
 * Ingest: a real `cordon server` (embedded SQLite) over a store seeded with BENCH_INGEST_DEVICES
 * devices; BENCH_INGEST alerts POSTed to `/api/alerts` with an ingest token, BENCH_CONCURRENCY in
 * flight, each a distinct event naming its device by host name (Cordon's body with process and
 * network evidence), over kept-alive connections as a streaming sender's are; then the same in
 * batches of BENCH_BATCH (50) a request to `/api/alerts/batch`, as forwarders send. The figure is
 * alerts/s from the first request to the last answer. Baselines, in the same run: bare Fastify
 * (bench/alerts-baseline-server.ts) answering the same requests from the same client — the
 * framework's and this machine's floor; and the store's raw insert rate — the same alert rows
 * inserted straight into a migrated SQLite store with the server's pragmas (one prepared
 * statement, 500 rows a transaction), what SQLite allows with no HTTP, validation, audit,
 * timeline or risk.
 *
 * Queue: a store of BENCH_DEVICES devices and BENCH_ALERTS alerts (bench/seed.ts), served by a real
 * server: the first page (50, with $count) and a severity+status filter (50, with $count), p50/p95
 * over BENCH_API_CALLS sequential calls each, against the same calls on 10 devices / 100 alerts.
 * Browser (real chromium, signed in once): from `page.goto('/alerts')` until the queue's first rows
 * are shown, p50/p95 over BENCH_PAGE_RUNS loads, on both stores. Skipped, saying so, when the
 * console is not built or chromium is missing.
 *
 * Targets (issue 15): >= 2,000 alerts/s ingested; API p95 <= 50 ms; the Alerts page usable <= 1 s p95.
 *
 *   npm run bench:alerts
 *   BENCH_DEVICES=2000 BENCH_ALERTS=20000 BENCH_INGEST=5000 npm run bench:alerts    # quicker
 *   BENCH_ONLY=ingest BENCH_INGEST=5000 npm run bench:alerts    # ingest rate alone
 *   BENCH_CPU_PROFILE=/tmp/prof BENCH_ONLY=ingest npm run bench:alerts    # and a CPU profile of the server
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';
import type { Browser } from 'playwright-core';
import { CHROMIUM, haveChromium, launchBrowser, newPage, screenshot, signIn } from '../e2e/browser.js';
import { CORDON, CordonProcess, freePort, ROOT } from '../e2e/helpers.js';
import { openSqlite } from '../packages/server/src/db/database.js';
import { cpuSeconds } from './process-cpu.js';
import { seedStore } from './seed.js';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const ALERTS = Number(process.env.BENCH_ALERTS ?? DEVICES * 10);
const API_CALLS = Number(process.env.BENCH_API_CALLS ?? 100);
const INGEST = Number(process.env.BENCH_INGEST ?? 20_000);
const INGEST_DEVICES = Number(process.env.BENCH_INGEST_DEVICES ?? 1000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 64);
/** Alerts per request in the batched ingest run. */
const BATCH = Number(process.env.BENCH_BATCH ?? 50);
const PAGE_RUNS = Number(process.env.BENCH_PAGE_RUNS ?? 20);
/** Where the ingest server writes a CPU profile (it is then stopped with SIGTERM so it writes one). */
const PROFILE_DIR = process.env.BENCH_CPU_PROFILE;
const log = (s: string) => process.stderr.write(`${s}\n`);

interface Timing {
  p50: number;
  p95: number;
}
function timing(samples: number[]): Timing {
  const s = [...samples].sort((a, b) => a - b);
  const pct = (p: number) => s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
  return { p50: pct(50), p95: pct(95) };
}

/** `limits`: the server's default rate limits (ingest is measured as deployed); otherwise none (the queue's many calls). */
async function startServer(dir: string, limits = false): Promise<{ server: CordonProcess; api: string; token: string; password: string }> {
  const [port, agentPort] = [await freePort(), await freePort()];
  const server = new CordonProcess(['server', '--data-dir', dir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { ...(limits ? {} : { CORDON_RATE_LIMIT_PER_MINUTE: '0' }), CORDON_LOG_LEVEL: 'warn' }, PROFILE_DIR ? [process.execPath, ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, CORDON]] : undefined);
  const token = await server.line(/^admin token: (\S+)$/m, 60_000);
  const password = await server.line(/^admin password: (\S+)/m);
  return { server, api: `http://127.0.0.1:${port}`, token, password };
}

async function call(api: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  const r = await fetch(`${api}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null };
}

/**
 * A POST on a kept-alive connection, as a sender that streams alerts (Falco's libcurl) does.
 * Node's fetch costs this client about four times more CPU per request: with it the benchmark
 * measured fetch, not the server (a bare Fastify route answered 1,238 req/s through fetch and
 * 4,717 through this, on the same machine).
 */
const keptAlive = new http.Agent({ keepAlive: true, maxSockets: 256 });
function post(api: string, token: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const data = JSON.stringify(body);
  const url = new URL(path, api);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: url.hostname, port: url.port, path: url.pathname + url.search, method: 'POST', agent: keptAlive, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, text }));
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** One distinct alert about device `name` (its i-th event). */
function alertBody(i: number, name: string): Record<string, unknown> {
  return {
    computerDnsName: name,
    title: ['Read sensitive file untrusted', 'Outbound Connection to C2 Servers', 'Terminal shell in container'][i % 3],
    severity: ['Informational', 'Low', 'Medium', 'High'][i % 4],
    category: 'Execution',
    detectionSource: 'Falco',
    sourceEventId: `bench-${i}`,
    firstEventTime: new Date(Date.now() - i).toISOString(),
    evidence: [
      { entityType: 'Process', processId: 1000 + (i % 50_000), processCommandLine: `curl -s http://203.0.113.${i % 250}/x`, accountName: 'www-data' },
      { entityType: 'Ip', ipAddress: `203.0.113.${i % 250}`, port: 4444 },
    ],
  };
}

/**
 * Alerts/s through the API, `INGEST` of them with `CONCURRENCY` requests in flight: one alert a
 * request (`POST /api/alerts`, as Falco sends), or `batch` a request (`POST /api/alerts/batch`, as
 * a forwarder such as Fluent Bit or Vector sends).
 */
async function ingestRate(batch = 1): Promise<{ perSecond: number; seconds: number; stored: number; devicesAtRisk: number; cpuPerAlert: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-bench-alerts-ingest-'));
  let server: CordonProcess | undefined;
  try {
    const seed = await seedStore(dir, { devices: INGEST_DEVICES, actionsPerDevice: 1 });
    const started = await startServer(dir, true);
    server = started.server;
    const { api, token: admin } = started;
    const token = (await call(api, admin, 'POST', '/api/tokens', { role: 'ingest', name: 'bench' })).json.token as string;
    const names = (await call(api, admin, 'GET', `/api/machines?$top=${INGEST_DEVICES}`)).json.value.map((m: { computerDnsName: string }) => m.computerDnsName) as string[];
    if (names.length !== seed.devices) throw new Error(`the server lists ${names.length} devices; the seed made ${seed.devices}`);
    // Warm-up: statements, JIT and the first batches.
    for (let i = 0; i < 200; i++) await call(api, token, 'POST', '/api/alerts', alertBody(INGEST + i, names[i % names.length]!));
    let next = 0;
    const cpu0 = cpuSeconds(server.child.pid!);
    const t = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next, n = (next += batch); i < INGEST; i = next, n = (next += batch)) {
          const bodies = Array.from({ length: Math.min(n, INGEST) - i }, (_, k) => alertBody(i + k, names[(i + k) % names.length]!));
          const r = batch === 1 ? await post(api, token, '/api/alerts', bodies[0]) : await post(api, token, '/api/alerts/batch', { value: bodies });
          if (r.status !== (batch === 1 ? 201 : 200)) throw new Error(`alerts from ${i} answered ${r.status}: ${r.text.slice(0, 300)}`);
        }
      }),
    );
    const seconds = (performance.now() - t) / 1000;
    const cpuPerAlert = ((cpuSeconds(server.child.pid!) - cpu0) / INGEST) * 1e6;
    const stored = (await call(api, admin, 'GET', '/api/alerts?$top=1&$count=true')).json['@odata.count'] as number;
    if (stored !== INGEST + 200) throw new Error(`${stored} alerts stored; ${INGEST + 200} were sent`);
    const atRisk = (await call(api, admin, 'GET', `/api/machines?$top=1&$count=true&$filter=${encodeURIComponent("riskScore ne 'None'")}`)).json['@odata.count'] as number;
    return { perSecond: INGEST / seconds, seconds, stored, devicesAtRisk: atRisk, cpuPerAlert };
  } finally {
    await server?.kill(PROFILE_DIR ? 'SIGTERM' : 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The same client, bodies and concurrency against bare Fastify (bench/alerts-baseline-server.ts): requests/s. */
async function frameworkFloorRate(): Promise<number> {
  const port = await freePort();
  const base = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench', 'alerts-baseline-server.ts'), String(port)], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise<void>((resolve, reject) => {
      base.stdout!.on('data', (d: Buffer) => d.toString().includes('listening') && resolve());
      base.on('exit', (code) => reject(new Error(`the baseline server exited (${code})`)));
    });
    const api = `http://127.0.0.1:${port}`;
    for (let i = 0; i < 200; i++) await post(api, 'x', '/api/alerts', alertBody(INGEST + i, 'web-0'));
    let next = 0;
    const t = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        for (let i = next++; i < INGEST; i = next++) {
          const r = await post(api, 'x', '/api/alerts', alertBody(i, `web-${i % INGEST_DEVICES}`));
          if (r.status !== 201) throw new Error(`the baseline answered ${r.status}`);
        }
      }),
    );
    return INGEST / ((performance.now() - t) / 1000);
  } finally {
    base.kill('SIGKILL');
  }
}

/** The store's own insert rate for the same alert rows: no HTTP, no checks, no audit, one statement. */
async function rawInsertRate(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-bench-alerts-raw-'));
  try {
    const file = join(dir, 'cordon.db');
    await (await openSqlite(file)).destroy();
    const db = new SQLite(file);
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    const cols = ['id', 'source_key', 'machine_id', 'computer_dns_name', 'host_key', 'title', 'description', 'severity', 'severity_rank', 'status', 'category', 'detection_source', 'mitre_techniques', 'evidence', 'event_count', 'first_event_time', 'last_event_time', 'alert_creation_time', 'last_update_time', 'created_by'];
    const st = db.prepare(`insert into alerts (${cols.join(', ')}) values (${cols.map(() => '?').join(', ')})`);
    const rows = Array.from({ length: INGEST }, (_, i) => {
      const b = alertBody(i, `web-${i % INGEST_DEVICES}`);
      const now = new Date().toISOString();
      return [randomUUID(), `Falco:bench-${i}`, null, b.computerDnsName, String(b.computerDnsName).toLowerCase(), b.title, null, b.severity, (i % 4) + 1, 'New', b.category, 'Falco', '[]', JSON.stringify(b.evidence), 1, b.firstEventTime, b.firstEventTime, now, now, 'bench'];
    });
    const insertChunk = db.transaction((chunk: unknown[][]) => {
      for (const r of chunk) st.run(r);
    });
    const t = performance.now();
    for (let i = 0; i < rows.length; i += 500) insertChunk(rows.slice(i, i + 500));
    const seconds = (performance.now() - t) / 1000;
    db.close();
    return INGEST / seconds;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const QUEUE_CASES = {
  'first page of 50, with $count': '/api/alerts?$top=50&$count=true',
  "severity eq 'High' and status eq 'New', 50 with $count": `/api/alerts?$top=50&$count=true&$filter=${encodeURIComponent("severity eq 'High' and status eq 'New'")}`,
  'open alerts by severity, 50': `/api/alerts?$top=50&$orderby=severity desc&$filter=${encodeURIComponent("status ne 'Resolved'")}`,
  // The console's first view, and one with two severities picked in its filter.
  'open alerts (status in New, InProgress), newest first, 50 with $count': `/api/alerts?$top=50&$count=true&$orderby=alertCreationTime desc&$filter=${encodeURIComponent("status in ('New','InProgress')")}`,
  'High or Medium and open, newest first, 50 with $count': `/api/alerts?$top=50&$count=true&$orderby=alertCreationTime desc&$filter=${encodeURIComponent("severity in ('High','Medium') and status in ('New','InProgress')")}`,
} as const;

/** What the queue's store answered: API timings, and the page's (null when the browser part did not run; pageFailure says why it failed). */
interface QueueFigures {
  api: Record<string, Timing>;
  page: Timing | null;
  pageFailure: string | null;
  pageProblems: string[];
}

/** Why the browser part cannot run (chromium missing, the console not built), or null when it can: a server on an empty store says whether it serves the console. */
async function browserSkipped(): Promise<string | null> {
  if (!haveChromium()) return `${CHROMIUM} is missing (apt-get install chromium, or run .ci/run)`;
  const dir = mkdtempSync(join(tmpdir(), 'cordon-bench-alerts-probe-'));
  const probe = await startServer(dir);
  try {
    const r = await fetch(`${probe.api}/`);
    const html = await r.text();
    return r.status === 200 && html.includes('<div id="root">') ? null : `GET / answered ${r.status} without <div id="root">: the console is not built (node scripts/build.mjs)`;
  } finally {
    await probe.server.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

/** From `goto('/alerts')` until the queue's first rows are shown, PAGE_RUNS loads after one not counted (the bundle's cold fetch). */
async function timeAlertsPage(browser: Browser, api: string, password: string): Promise<{ page: Timing; problems: string[] }> {
  const t = await newPage(browser, { baseURL: api });
  const ready = '[data-testid="alerts-table"] tbody tr [data-testid="alert-title"]';
  try {
    await signIn(t.page, 'admin', password);
    const samples: number[] = [];
    try {
      for (let i = 0; i <= PAGE_RUNS; i++) {
        const start = performance.now();
        await t.page.goto('/alerts', { waitUntil: 'commit' });
        await t.page.waitForSelector(ready, { timeout: 15_000 });
        if (i > 0) samples.push(performance.now() - start);
      }
    } catch (e) {
      const file = await screenshot(t.page, 'bench-alerts-page');
      const problems = t.problems().map((p) => `    ${p.split('\n')[0]}`);
      throw new Error(`/alerts never showed ${ready}: ${(e as Error).message.split('\n')[0]}\n  at ${t.page.url()}; screenshot ${file}${problems.length ? `\n  page problems:\n${problems.join('\n')}` : ''}`);
    }
    return { page: timing(samples), problems: t.problems() };
  } finally {
    await t.close();
  }
}

async function queueTimes(devices: number, alerts: number, browser: Browser | null): Promise<QueueFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'cordon-bench-alerts-queue-'));
  let server: CordonProcess | undefined;
  try {
    const seed = await seedStore(dir, { devices, actionsPerDevice: 1, alerts });
    log(`  seeded ${seed.devices} devices, ${seed.alerts} alerts in ${seed.seconds.toFixed(1)} s`);
    const started = await startServer(dir);
    server = started.server;
    const { api, token, password } = started;
    const expected = seed.alertsBySeverityStatus['High/New'] ?? 0;
    const high = await call(api, token, 'GET', QUEUE_CASES["severity eq 'High' and status eq 'New', 50 with $count"]);
    if (high.json['@odata.count'] !== expected) throw new Error(`the filter counted ${high.json['@odata.count']} High/New alerts; the seed made ${expected}`);
    const out: Record<string, Timing> = {};
    for (const [name, path] of Object.entries(QUEUE_CASES)) {
      for (let i = 0; i < 5; i++) await call(api, token, 'GET', path);
      const samples: number[] = [];
      for (let i = 0; i < API_CALLS; i++) {
        const t = performance.now();
        const r = await call(api, token, 'GET', path);
        samples.push(performance.now() - t);
        if (r.status !== 200) throw new Error(`${path} answered ${r.status}`);
      }
      out[name] = timing(samples);
    }
    const figures: QueueFigures = { api: out, page: null, pageFailure: null, pageProblems: [] };
    if (browser) {
      // A console that breaks must not cost the API figures: the failure is reported instead.
      try {
        const r = await timeAlertsPage(browser, api, password);
        figures.page = r.page;
        figures.pageProblems = r.problems;
      } catch (e) {
        figures.pageFailure = (e as Error).message;
        log(`  browser part FAILED: ${figures.pageFailure}`);
      }
    }
    return figures;
  } finally {
    await server?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  log(`ingest: ${INGEST} alerts over ${INGEST_DEVICES} devices, ${CONCURRENCY} in flight`);
  const ingest = await ingestRate();
  log(`ingest: the same, ${BATCH} alerts a request (POST /api/alerts/batch)`);
  const batched = await ingestRate(BATCH);
  const raw = await rawInsertRate();
  const floor = await frameworkFloorRate();
  const ingestLine = `ingest ${ingest.perSecond.toFixed(0)} alerts/s one a request (target >= 2000: ${ingest.perSecond >= 2000 ? 'met' : 'NOT met'}; server CPU ${ingest.cpuPerAlert.toFixed(0)} µs an alert), ${(ingest.perSecond / floor).toFixed(2)}x bare Fastify's ${floor.toFixed(0)} req/s, ${(ingest.perSecond / raw).toFixed(3)}x the raw insert rate (${raw.toFixed(0)} rows/s); ${batched.perSecond.toFixed(0)} alerts/s ${BATCH} a request (server CPU ${batched.cpuPerAlert.toFixed(0)} µs an alert), ${(batched.perSecond / raw).toFixed(3)}x the raw insert rate`;
  if (process.env.BENCH_ONLY === 'ingest') {
    // For working on ingest alone: the queue's seeds and browser runs take minutes.
    process.stdout.write(`RESULT: ${ingestLine}\n`);
    return;
  }
  const skipBrowser = await browserSkipped();
  if (skipBrowser) log(`browser part SKIPPED: ${skipBrowser}`);
  const browser = skipBrowser ? null : await launchBrowser();
  try {
    log('queue baseline: 10 devices, 100 alerts');
    const small = await queueTimes(10, 100, browser);
    log(`queue: ${DEVICES} devices, ${ALERTS} alerts`);
    // A page that failed on 100 alerts is not tried on the big store.
    const big = await queueTimes(DEVICES, ALERTS, small.pageFailure ? null : browser);

    const ms = (x: number) => `${x.toFixed(1)} ms`;
    const lines = [
      `${new Date().toISOString()}; ${API_CALLS} calls per case, ${PAGE_RUNS} page loads`,
      '| metric | figure | baseline | ratio |',
      '| --- | --- | --- | --- |',
      `| ingest through POST /api/alerts (${CONCURRENCY} in flight) | ${ingest.perSecond.toFixed(0)} alerts/s | ${floor.toFixed(0)} req/s bare Fastify | ${(ingest.perSecond / floor).toFixed(2)}× |`,
      `| ingest, against the store's raw insert | ${ingest.perSecond.toFixed(0)} alerts/s | ${raw.toFixed(0)} rows/s | ${(ingest.perSecond / raw).toFixed(3)}× |`,
      `| ingest, ${BATCH} alerts a request (POST /api/alerts/batch) | ${batched.perSecond.toFixed(0)} alerts/s | ${raw.toFixed(0)} rows/s raw insert | ${(batched.perSecond / raw).toFixed(3)}× |`,
      ...Object.keys(QUEUE_CASES).flatMap((k) => [
        `| queue: ${k} p50 (${DEVICES} devices / ${ALERTS} alerts vs 10 / 100) | ${ms(big.api[k]!.p50)} | ${ms(small.api[k]!.p50)} | ${(big.api[k]!.p50 / small.api[k]!.p50).toFixed(2)}× |`,
        `| queue: ${k} p95 | ${ms(big.api[k]!.p95)} | ${ms(small.api[k]!.p95)} | ${(big.api[k]!.p95 / small.api[k]!.p95).toFixed(2)}× |`,
      ]),
      ...(big.page && small.page
        ? [
            `| browser: Alerts page usable (first rows shown) p50 | ${ms(big.page.p50)} | ${ms(small.page.p50)} | ${(big.page.p50 / small.page.p50).toFixed(2)}× |`,
            `| browser: Alerts page usable (first rows shown) p95 | ${ms(big.page.p95)} | ${ms(small.page.p95)} | ${(big.page.p95 / small.page.p95).toFixed(2)}× |`,
          ]
        : [`| browser: Alerts page | ${big.pageFailure ? 'FAILED' : 'skipped'} | ${small.pageFailure ? 'FAILED' : 'skipped'} | |`]),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    log(`  ingest stored ${ingest.stored} alerts in ${ingest.seconds.toFixed(1)} s; ${ingest.devicesAtRisk} devices at risk`);
    for (const p of [...small.pageProblems, ...big.pageProblems]) log(`page problem: ${p.split('\n')[0]}`);
    const worst = Object.entries(big.api).sort((a, b) => b[1].p95 - a[1].p95)[0]!;
    const apiMet = worst[1].p95 <= 50;
    let browserPart = `browser part skipped (${skipBrowser})`;
    const failure = small.pageFailure ?? big.pageFailure;
    if (failure) {
      browserPart = `browser part FAILED (${failure.split('\n')[0]})`;
      process.exitCode = 1;
    } else if (big.page && small.page) {
      browserPart = `Alerts page usable p95 ${big.page.p95.toFixed(0)} ms (target <= 1000: ${big.page.p95 <= 1000 ? 'met' : 'NOT met'}), ${(big.page.p95 / small.page.p95).toFixed(2)}x the 100-alert store`;
    }
    process.stdout.write(
      `RESULT: ${ingestLine}; ${ALERTS} alerts: slowest queue call (${worst[0]}) p95 ${worst[1].p95.toFixed(1)} ms (target <= 50: ${apiMet ? 'met' : 'NOT met'}), ${(worst[1].p95 / small.api[worst[0]]!.p95).toFixed(2)}x the 100-alert store; ${browserPart}${big.pageProblems.length ? `; ${big.pageProblems.length} page problems (console errors / CSP)` : ''}\n`,
    );
  } finally {
    await browser?.close();
  }
}

await main();
