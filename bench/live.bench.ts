/**
 * Benchmark: live response (issue 17).
 *   1. Round trip of a trivial line: a real `cordon server` process and a real `cordon agent run`
 *      process on loopback; an analyst opens a session over the HTTP API and follows its SSE stream.
 *      One round trip = `POST …/commands {"Line":"pwd"}` until that seq's `done` event arrives on the
 *      stream; N sequential runs after a warm-up, a line at most every 100 ms (the agent paces its
 *      live frames), then 200 back to back to show that pace. The same N paced runs over the
 *      session's WebSocket (`…/socket`: the line sent, its `done` event on the same socket), the path
 *      the console and `cordon live` take. Baselines, same run: a bare `ws` echo
 *      server on the gateway's own TLS certificate, one client, N round trips of a small JSON message
 *      (the baseline); and the line's own path with no Cordon in it, three processes as in
 *      Cordon (bench/live-relay.ts: bench → relay → relay over TLS → back), paced as the lines are.
 *   2. getfile of a large file (a stored zip of random-ish bytes, so the package path accepts the same
 *      bytes): MB/s from the POST to the `done` event, the download's SHA-256 checked against the
 *      source. Baselines, same run: the agent's `PackageUploader` sending the same file to the same
 *      server as a `CollectInvestigationPackage` upload, and a plain copy to the server's file system.
 * Targets (issue 17): pwd p50 <= 5 ms added over the echo p50; getfile >= 100 MB/s on loopback.
 *
 *   npm run bench:live                                           # 1,000 runs, 1 GiB
 *   BENCH_LIVE_RUNS=200 BENCH_LIVE_GETFILE_MB=256 npm run bench:live
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, createWriteStream, fsync, mkdtempSync, openSync, readFileSync, rmSync, statfsSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { copyFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import WebSocket, { WebSocketServer } from 'ws';
import { ZipFile } from 'yazl';
import { enroll, PackageUploader } from '@cordon/agent';
import { CordonClient } from '@cordon/cli';
import { CORDON, cordon, CordonProcess, freePort, sleep, until } from '../e2e/helpers.js';

const RUNS = Number(process.env.BENCH_LIVE_RUNS ?? 1000);
const WARMUP = 20;
const GETFILE_MB = Number(process.env.BENCH_LIVE_GETFILE_MB ?? 1024);
/** Paced runs start a line at most this often (two frames per line, the agent sends 20 a second). */
const LINE_GAP_MS = 100;
const B2B_RUNS = Math.min(RUNS, 200);
/** Chunk size of the package-path upload (the agent's is 4 MiB; the server takes up to 8): diagnosis only. */
const PACKAGE_CHUNK_MB = Number(process.env.BENCH_LIVE_PACKAGE_CHUNK_MB ?? 4);
/** A directory: the server and the agent write CPU profiles there (diagnosis only). */
const CPU_PROF = process.env.BENCH_LIVE_CPU_PROF;
const log = (s: string) => process.stderr.write(`${s}\n`);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const ms = (x: number) => `${x.toFixed(2)} ms`;

/** A temp dir on tmpfs when it has room for the file twice over (the bench's disk is not what is measured), else the default. */
function fileDir(): { dir: string; where: string } {
  try {
    const st = statfsSync('/dev/shm');
    if (st.bavail * st.bsize > GETFILE_MB * 1048576 * 2 + 512 * 1048576) return { dir: mkdtempSync('/dev/shm/cordon-bench-live-'), where: '/dev/shm (tmpfs)' };
  } catch {
    // no /dev/shm: fall through
  }
  return { dir: mkdtempSync(join(tmpdir(), 'cordon-bench-live-')), where: tmpdir() };
}

/** GETFILE_MB of random-ish bytes (a fresh random MiB every 64 MiB, a counter in every MiB) in a stored zip; answers its SHA-256. */
async function makeFile(path: string): Promise<string> {
  let block = randomBytes(1048576);
  let i = 0;
  const source = new Readable({
    read() {
      if (i === GETFILE_MB) return this.push(null);
      if (i % 64 === 0) block = randomBytes(1048576);
      const piece = Buffer.from(block);
      piece.writeUInt32LE(i++, 0);
      this.push(piece);
    },
  });
  const zip = new ZipFile();
  zip.addReadStream(source, 'evidence.bin', { compress: false, size: GETFILE_MB * 1048576 });
  zip.end();
  const hash = createHash('sha256');
  await pipeline(zip.outputStream as unknown as Readable, async function* (chunks: AsyncIterable<Buffer>) {
    for await (const c of chunks) {
      hash.update(c);
      yield c;
    }
  }, createWriteStream(path));
  return hash.digest('hex');
}

/** A file sink that fsyncs after every write. */
function fsyncedSink(path: string): Writable {
  const fd = openSync(path, 'w');
  return new Writable({
    write(chunk: Buffer, _e, done) {
      writeSync(fd, chunk);
      fsync(fd, (err) => done(err));
    },
    final(done) {
      closeSync(fd);
      done();
    },
  });
}

async function sha256Of(stream: AsyncIterable<Buffer>): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const c of stream) {
    hash.update(c);
    bytes += c.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}

interface LiveDone {
  seq: number;
  status: string;
  exitStatus: number;
  startedAt: string;
  endedAt: string;
  data: { size?: number; sha256?: string } | null;
}

/** Follows a session's SSE stream; `when(seq, event)` resolves at that event's arrival (performance.now()). */
class SessionStream {
  readonly #waiters = new Map<string, (t: number, data: unknown) => void>();
  readonly #seen = new Map<string, { t: number; data: unknown }>();
  readonly #abort = new AbortController();

  async open(url: string, token: string): Promise<void> {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: this.#abort.signal });
    if (res.status !== 200 || !res.body) throw new Error(`stream answered ${res.status}`);
    void this.#read(res.body as unknown as AsyncIterable<Uint8Array>).catch(() => undefined);
  }

  async #read(body: AsyncIterable<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    for await (const chunk of body) {
      const t = performance.now();
      buf += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const event = /^event: (.+)$/m.exec(block)?.[1];
        const data = /^data: (.+)$/m.exec(block)?.[1];
        if (!event || !data) continue;
        const parsed = JSON.parse(data) as { seq?: number };
        if (parsed.seq === undefined) continue;
        const key = `${event}/${parsed.seq}`;
        // The first arrival counts (a reconnect would replay).
        if (this.#seen.has(key)) continue;
        this.#seen.set(key, { t, data: parsed });
        this.#waiters.get(key)?.(t, parsed);
        this.#waiters.delete(key);
      }
    }
  }

  when(seq: number, event: 'command' | 'output' | 'done', timeoutMs = 30_000): Promise<{ t: number; data: unknown }> {
    const key = `${event}/${seq}`;
    const seen = this.#seen.get(key);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ${event} for line ${seq} within ${timeoutMs} ms`)), timeoutMs);
      this.#waiters.set(key, (t, data) => {
        clearTimeout(timer);
        resolve({ t, data });
      });
    });
  }

  close(): void {
    this.#abort.abort();
  }
}

/** How to start `cordon`: under --cpu-prof when asked. */
const launcher = (name: string): [string, string[]] => [process.execPath, [...(CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${CPU_PROF}`, `--cpu-prof-name=${name}.cpuprofile`] : []), CORDON]];

async function call(base: string, token: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${base}${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** A bare `ws` echo server on the gateway's TLS certificate, one client, `n` sequential round trips of `message`. */
async function echoBaseline(certFile: string, keyFile: string, caPem: string, message: string, n: number): Promise<number[]> {
  const server = createServer({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
  const wss = new WebSocketServer({ server, path: '/agent/v1', perMessageDeflate: false, maxPayload: 1024 * 1024 });
  wss.on('connection', (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const ws = new WebSocket(`wss://127.0.0.1:${port}/agent/v1`, { ca: caPem, checkServerIdentity: (() => undefined) as unknown as () => boolean, perMessageDeflate: false });
  try {
    return await roundTrips(ws, message, n, 0);
  } finally {
    ws.close();
    wss.close();
    server.close();
  }
}

/** `n` round trips of `message` (after WARMUP more) on an open socket that answers each with one message; one at most every `gapMs`. */
async function roundTrips(ws: WebSocket, message: string, n: number, gapMs: number): Promise<number[]> {
  await new Promise<void>((resolve, reject) => (ws.readyState === ws.OPEN ? resolve() : ws.once('open', resolve).once('error', reject)));
  const times: number[] = [];
  for (let i = 0; i < n + WARMUP; i++) {
    const t = performance.now();
    const answered = new Promise<void>((r) => ws.once('message', () => r()));
    ws.send(message);
    await answered;
    if (i >= WARMUP) times.push(performance.now() - t);
    if (gapMs > 0) await sleep(gapMs - (performance.now() - t));
  }
  return times;
}

/**
 * The same path with no Cordon in it (bench/live-relay.ts): the bench's client, a relay in the
 * server's place and one in the agent's, each its own process; `n` round trips of `message`, a
 * message at most every `gapMs` as the lines are sent. Four hops between processes, as a line's.
 */
async function relayBaseline(certFile: string, keyFile: string, caFile: string, message: string, n: number, gapMs: number): Promise<number[]> {
  const script: [string, string[]] = [process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'live-relay.ts')]];
  const server = new CordonProcess(['server', certFile, keyFile], {}, script);
  let agent: CordonProcess | undefined;
  let ws: WebSocket | undefined;
  try {
    const [port, tlsPort] = (await server.line(/^relay (\d+ \d+)$/m)).split(' ');
    agent = new CordonProcess(['agent', tlsPort!, caFile], {}, script);
    await agent.line(/^relay connected$/m);
    ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    return await roundTrips(ws, message, n, gapMs);
  } finally {
    ws?.close();
    await agent?.kill('SIGKILL');
    await server.kill('SIGKILL');
  }
}

/**
 * `pwd` round trips over a session's socket: from sending the line until its `done` event arrives
 * on the same socket (its `accepted` answer may come before or after).
 */
async function socketRoundTrips(url: string, token: string, n: number, gapMs: number): Promise<number[]> {
  const ws = new WebSocket(url, { headers: { authorization: `Bearer ${token}` } });
  await new Promise<void>((resolve, reject) => ws.once('open', resolve).once('error', reject));
  const seqOf = new Map<number, number>();
  const doneAt = new Map<number, number>();
  let wake: (() => void) | null = null;
  ws.on('message', (raw) => {
    const m = JSON.parse(String(raw)) as { type: string; ref?: number; command?: { seq: number }; data?: { seq: number; status?: string }; error?: unknown };
    if (m.type === 'error') throw new Error(`socket: ${JSON.stringify(m)}`);
    if (m.type === 'accepted' && m.ref !== undefined) seqOf.set(m.ref, m.command!.seq);
    if (m.type === 'done') doneAt.set(m.data!.seq, performance.now());
    wake?.();
  });
  const times: number[] = [];
  try {
    for (let i = 0; i < n; i++) {
      const t = performance.now();
      ws.send(JSON.stringify({ type: 'line', ref: i, line: 'pwd' }));
      for (;;) {
        const seq = seqOf.get(i);
        const at = seq === undefined ? undefined : doneAt.get(seq);
        if (at !== undefined) {
          times.push(at - t);
          break;
        }
        await new Promise<void>((r) => (wake = r));
      }
      await sleep(gapMs - (performance.now() - t));
    }
  } finally {
    ws.close();
  }
  return times;
}

async function main(): Promise<void> {
  const serverDir = mkdtempSync(join(tmpdir(), 'cordon-bench-live-srv-'));
  const agentDir = mkdtempSync(join(tmpdir(), 'cordon-bench-live-agent-'));
  const pkgDir = mkdtempSync(join(tmpdir(), 'cordon-bench-live-pkg-'));
  const files = fileDir();
  const cleanup = [serverDir, agentDir, pkgDir, files.dir];
  const port = await freePort();
  const agentPort = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = new CordonProcess(['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn' }, launcher('server'));
  let agent: CordonProcess | undefined;
  let stream: SessionStream | undefined;
  try {
    const adminToken = await server.line(/^admin token: (\S+)$/m);
    const made = await call(base, adminToken, 'POST', '/api/tokens', { role: 'analyst', name: 'bench-live' });
    if (made.status !== 201) throw new Error(`token: ${made.status} ${JSON.stringify(made.body)}`);
    const analyst = made.body.token as string;
    const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim();
    const enrolled = await cordon(['agent', 'enroll', '--server', `https://127.0.0.1:${agentPort}`, '--token', enrollment, '--data-dir', agentDir]);
    if (enrolled.code !== 0) throw new Error(`enroll: ${enrolled.stderr}`);
    const machineId = (JSON.parse(readFileSync(join(agentDir, 'enrollment.json'), 'utf8')) as { machineId: string }).machineId;
    agent = new CordonProcess(['agent', 'run', '--data-dir', agentDir], { CORDON_AGENT_LOG_LEVEL: 'warn' }, launcher('agent'));
    await until('the agent to connect', async () => (await call(base, analyst, 'GET', `/api/machines/${machineId}`)).body.healthStatus === 'Active', 60_000);

    // --- 1. pwd round trips ---
    const opened = await call(base, analyst, 'POST', `/api/machines/${machineId}/liveResponseSessions`, { Comment: 'bench' });
    if (opened.status !== 201) throw new Error(`session: ${opened.status} ${JSON.stringify(opened.body)}`);
    const sessionId = opened.body.id as string;
    await until('the session to be Active', async () => (await call(base, analyst, 'GET', `/api/liveResponseSessions/${sessionId}`)).body.state === 'Active', 60_000);
    stream = new SessionStream();
    await stream.open(`${base}/api/liveResponseSessions/${sessionId}/stream`, analyst);

    const runLine = async (line: string, timeoutMs?: number) => {
      const wall0 = Date.now();
      const t0 = performance.now();
      const res = await call(base, analyst, 'POST', `/api/liveResponseSessions/${sessionId}/commands`, { Line: line });
      const t202 = performance.now();
      if (res.status !== 202) throw new Error(`${line}: ${res.status} ${JSON.stringify(res.body)}`);
      const seq = res.body.seq as number;
      const done = await stream!.when(seq, 'done', timeoutMs);
      const command = await stream!.when(seq, 'command', 1);
      const output = await stream!.when(seq, 'output', 1).catch(() => done);
      const d = done.data as LiveDone;
      // The server's own clock (ms resolution): when it stored the line, and when it stored the agent's end of it.
      const stored = Date.parse(d.startedAt) - wall0;
      const ended = Date.parse(d.endedAt) - wall0;
      return { seq, total: done.t - t0, accepted: t202 - t0, command: command.t - t0, output: output.t - t0, stored, ended, done: d };
    };

    // Paced: a line at most every LINE_GAP_MS, which keeps the agent's 2 frames per line (output, end)
    // under its live frame pace (LIVE_FRAME_PACE: 20 a second, bursts of 100), as a typist does.
    // Then back to back, to show that pace once its burst is spent.
    const pwd = async () => {
      const r = await runLine('pwd');
      if (r.done.status !== 'Succeeded') throw new Error(`pwd ended ${r.done.status}`);
      return r;
    };
    log(`pwd: ${WARMUP} warm-up + ${RUNS} runs, a line at most every ${LINE_GAP_MS} ms…`);
    const rt: { total: number; accepted: number; command: number; output: number; stored: number; ended: number }[] = [];
    for (let i = 0; i < RUNS + WARMUP; i++) {
      const started = performance.now();
      const r = await pwd();
      if (i >= WARMUP) rt.push(r);
      await sleep(LINE_GAP_MS - (performance.now() - started));
    }
    // The same lines over the session's WebSocket (what the console and `cordon live` use).
    log(`pwd over the session socket: ${WARMUP} warm-up + ${RUNS} runs, a line at most every ${LINE_GAP_MS} ms…`);
    await sleep(6000);
    const socketTimes = await socketRoundTrips(`${base.replace(/^http/, 'ws')}/api/liveResponseSessions/${sessionId}/socket`, analyst, RUNS + WARMUP, LINE_GAP_MS);
    const sock = socketTimes.slice(WARMUP);

    // Let the pacer's bucket fill again, then back to back.
    await sleep(6000);
    const b2b: number[] = [];
    log(`pwd: ${B2B_RUNS} runs back to back…`);
    for (let i = 0; i < B2B_RUNS; i++) b2b.push((await pwd()).total);
    const totals = rt.map((r) => r.total);
    const tenth = Math.max(1, Math.floor(RUNS / 10));

    // The echo message: about the size of the frame that carries the line to the agent.
    const message = JSON.stringify({ type: 'live', sessionId, seq: 1, line: 'pwd', level: 'basic', issuedBy: 'bench-live', payload: 'x'.repeat(160) });
    const keys = join(serverDir, 'keys');
    const caPem = (JSON.parse(readFileSync(join(agentDir, 'enrollment.json'), 'utf8')) as { caCertPem: string }).caCertPem;
    log(`echo: ${RUNS} runs…`);
    const echo = await echoBaseline(join(keys, 'server.crt'), join(keys, 'server.key'), caPem, message, RUNS);
    log(`relay: ${RUNS} runs, a message at most every ${LINE_GAP_MS} ms…`);
    const caFile = join(files.dir, 'ca.pem');
    writeFileSync(caFile, caPem);
    const relay = await relayBaseline(join(keys, 'server.crt'), join(keys, 'server.key'), caFile, JSON.stringify({ type: 'line', ref: 1, line: 'pwd' }), RUNS, LINE_GAP_MS);

    // --- 2. getfile ---
    const source = join(files.dir, 'evidence.zip');
    log(`writing ${GETFILE_MB} MiB to ${files.where}…`);
    const want = await makeFile(source);
    // Writing 256 MiB+ through the zip writer leaves the bench with a heap to collect: let that
    // (and the page cache's write-back) settle first, or it competes with the transfer for the 2 cores.
    await sleep(3000);
    const size = statSync(source).size;
    const mb = size / 1048576;
    log('getfile…');
    const got = await runLine(`getfile '${source}'`, 600_000);
    if (got.done.status !== 'Succeeded' || got.done.data?.sha256 !== want || got.done.data.size !== size) throw new Error(`getfile ended ${JSON.stringify(got.done)}`);
    const listed = await call(base, analyst, 'GET', `/api/liveResponseSessions/${sessionId}/files`);
    const fileId = (listed.body.value as { id: string }[])[0]!.id;
    const dl = await fetch(`${base}/api/liveResponseSessions/${sessionId}/files/${fileId}/content`, { headers: { authorization: `Bearer ${analyst}` } });
    const downloaded = await sha256Of(dl.body as unknown as AsyncIterable<Buffer>);
    if (downloaded.sha256 !== want || downloaded.bytes !== size) throw new Error(`the downloaded file differs: ${downloaded.bytes} bytes, ${downloaded.sha256}`);

    // Package path: another enrolled device's CollectInvestigationPackage, the same uploader, the same file.
    log('package upload…');
    const api = new CordonClient(base, adminToken);
    const device = await enroll(`https://127.0.0.1:${agentPort}`, (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim(), pkgDir, {
      hostname: 'bench-package', osPlatform: 'Linux', osVersion: 'bench', osProcessor: 'x64', kernel: '6', ipAddresses: [], agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }], deviceTags: [],
    });
    const action = await api.submit(device.machineId, 'collectInvestigationPackage', { Comment: 'bench' });
    const tp = performance.now();
    const pkg = await new PackageUploader(device, { chunkBytes: PACKAGE_CHUNK_MB * 1048576 }).upload(action.id, createReadStream(source));
    const pkgSeconds = (performance.now() - tp) / 1000;
    if (pkg.sha256 !== want) throw new Error('the package upload hashed differently');

    // Plain copies to the server's file system (no TLS, no hashing, no fsync).
    const copyTo = join(serverDir, 'bench-copy.bin');
    let tc = performance.now();
    await copyFile(source, copyTo);
    const copySeconds = (performance.now() - tc) / 1000;
    rmSync(copyTo);
    tc = performance.now();
    await pipeline(createReadStream(source), createWriteStream(copyTo));
    const streamSeconds = (performance.now() - tc) / 1000;
    rmSync(copyTo);
    // The same copy in 4 MiB writes, each fsync'd (what the server does per chunk), still no TLS or hashing.
    tc = performance.now();
    await pipeline(createReadStream(source, { highWaterMark: 4 * 1048576 }), fsyncedSink(copyTo));
    const fsyncSeconds = (performance.now() - tc) / 1000;
    rmSync(copyTo);
    // Reading alone (the hash the agent does on every byte is on top of this).
    tc = performance.now();
    await pipeline(createReadStream(source), new Writable({ write: (_c, _e, done) => done() }));
    const readSeconds = (performance.now() - tc) / 1000;

    const getfileSeconds = got.total / 1000;
    const getfileMbs = mb / getfileSeconds;
    const p50 = pct(totals, 50);
    const echoP50 = pct(echo, 50);
    const added = p50 - echoP50;
    const split = (k: 'accepted' | 'command' | 'output' | 'stored' | 'ended') => pct(rt.map((r) => r[k]), 50);
    const deciles = Array.from({ length: 10 }, (_, i) => pct(totals.slice(i * tenth, (i + 1) * tenth), 50).toFixed(1)).join(' / ');
    log(`\nlive response, ${RUNS} runs (+${WARMUP} warm-up) a line at most every ${LINE_GAP_MS} ms, getfile ${mb.toFixed(0)} MiB from ${files.where}, ${new Date().toISOString()}`);
    log('| metric | cordon | baseline | |');
    log('| --- | --- | --- | --- |');
    log(`| pwd round trip p50 | ${ms(p50)} | ${ms(echoP50)} (bare ws echo) | +${ms(added)} |`);
    log(`| pwd round trip p99 | ${ms(pct(totals, 99))} | ${ms(pct(echo, 99))} | |`);
    log(`| pwd over the session socket p50 / p99 | ${ms(pct(sock, 50))} / ${ms(pct(sock, 99))} | ${ms(echoP50)} | +${ms(pct(sock, 50) - echoP50)} |`);
    log(`| the same path with no Cordon in it: bench → relay → relay over TLS → back, three processes, paced alike (p50 / p99) | | ${ms(pct(relay, 50))} / ${ms(pct(relay, 99))} | socket +${ms(pct(sock, 50) - pct(relay, 50))} over it |`);
    log(`| pwd round trip mean | ${ms(mean(totals))} | ${ms(mean(echo))} | |`);
    log(`| pwd back to back (${B2B_RUNS} runs): p50 / p99 / first ${Math.min(20, B2B_RUNS)} p50 | ${ms(pct(b2b, 50))} / ${ms(pct(b2b, 99))} / ${ms(pct(b2b.slice(0, 20), 50))} | | |`);
    log(`| pwd p50, first / last ${tenth} runs | ${ms(pct(totals.slice(0, tenth), 50))} / ${ms(pct(totals.slice(-tenth), 50))} | | |`);
    log(`| pwd p50 by tenth of the runs, in order (ms) | ${deciles} | | |`);
    log(`| pwd p50 split, bench clock: POST answered 202 / \`command\` event / first \`output\` event / \`done\` event | ${ms(split('accepted'))} / ${ms(split('command'))} / ${ms(split('output'))} / ${ms(p50)} | | |`);
    log(`| pwd p50 split, server clock: line stored (startedAt) / agent's end stored (endedAt) | ${split('stored').toFixed(0)} ms / ${split('ended').toFixed(0)} ms | | |`);
    log(`| getfile ${mb.toFixed(0)} MiB (POST to \`done\`) | ${getfileMbs.toFixed(0)} MB/s (${getfileSeconds.toFixed(2)} s) | ${(mb / pkgSeconds).toFixed(0)} MB/s (package upload, PackageUploader, ${PACKAGE_CHUNK_MB} MiB chunks) | ${(getfileMbs / (mb / pkgSeconds)).toFixed(2)}x |`);
    log(`| plain copy to the server's file system | | ${(mb / copySeconds).toFixed(0)} MB/s (fs.copyFile), ${(mb / streamSeconds).toFixed(0)} MB/s (stream) | ${(getfileMbs / (mb / streamSeconds)).toFixed(2)}x stream |`);
    log(`| the same copy, 4 MiB writes each fsync'd | | ${(mb / fsyncSeconds).toFixed(0)} MB/s | ${(getfileMbs / (mb / fsyncSeconds)).toFixed(2)}x |`);
    log(`| reading the file alone | | ${(mb / readSeconds).toFixed(0)} MB/s | |`);
    log(`| SHA-256 of the download = source | ${downloaded.sha256 === want ? 'yes' : 'NO'} | | |`);
    const sockP50 = pct(sock, 50);
    const sockAdded = sockP50 - echoP50;
    const pMet = sockAdded <= 5;
    const gMet = getfileMbs >= 100;
    process.stdout.write(
      `RESULT: pwd round trip over the session socket p50 ${ms(sockP50)}, p99 ${ms(pct(sock, 99))} over ${RUNS} runs; bare ws echo p50 ${ms(echoP50)}, p99 ${ms(pct(echo, 99))}; added p50 ${ms(sockAdded)} (target <= 5 ms: ${pMet ? 'met' : 'NOT met'}); the same path through two bare relay processes p50 ${ms(pct(relay, 50))} (Cordon adds ${ms(sockP50 - pct(relay, 50))} to it); over POST + event stream p50 ${ms(p50)} (added ${ms(added)}); back to back p50 ${ms(pct(b2b, 50))} (the agent's 20 frames/s pace); getfile ${mb.toFixed(0)} MiB at ${getfileMbs.toFixed(0)} MB/s (target >= 100: ${gMet ? 'met' : 'NOT met'}), package upload ${(mb / pkgSeconds).toFixed(0)} MB/s, plain copy ${(mb / copySeconds).toFixed(0)} MB/s; SHA-256 verified\n`,
    );
  } finally {
    stream?.close();
    // A profile is written only on a clean exit.
    await agent?.kill(CPU_PROF ? 'SIGTERM' : 'SIGKILL');
    await server.kill(CPU_PROF ? 'SIGTERM' : 'SIGKILL');
    for (const d of cleanup) rmSync(d, { recursive: true, force: true });
  }
}

await main();
