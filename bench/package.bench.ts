/**
 * Benchmark: investigation packages.
 *   1. Collection on this machine: time and zip size (the real producer, all collectors); and the
 *      producer streaming one 256 MB file to a slow consumer: this process's RSS growth (the figure
 *      the unit tests used to assert; they now check the behaviour, backpressure). Baseline, same
 *      run: a plain pipeline of the same bytes into the same consumer.
 *   2. Ingest: ten concurrent 400 MB uploads from ten enrolled devices to a real `cordon server`
 *      process on loopback (TLS, 4 MiB chunks, each checked and fsync'd): MB/s and the server's
 *      RSS growth. Baseline, same run: a plain copy of the same bytes to files on the same disk.
 * Target (issue 4): server RSS growth <= 100 MB during the ten uploads.
 *
 *   npm run bench:package                          # 10 x 400 MB
 *   BENCH_UPLOADS=4 BENCH_UPLOAD_MB=100 npm run bench:package
 */
import { createHash } from 'node:crypto';
import { createWriteStream, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { enroll, PackageUploader } from '@cordon/agent';
import { CordonClient } from '@cordon/cli';
import { producePackage } from '../packages/agent/src/actions/collect-package/package.js';
import { cordon, CordonProcess, freePort } from '../e2e/helpers.js';

const UPLOADS = Number(process.env.BENCH_UPLOADS ?? 10);
const UPLOAD_MB = Number(process.env.BENCH_UPLOAD_MB ?? 400);
const log = (s: string) => process.stderr.write(`${s}\n`);
const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** `mb` MB of bytes that do not compress to nothing, the same for every stream, made on the fly. */
function rawBytes(seed: number, mb = UPLOAD_MB): Readable {
  const block = createHash('sha512').update(`cordon-bench-${seed}`).digest();
  const piece = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < piece.length; i += block.length) block.copy(piece, i);
  let left = mb;
  return new Readable({
    read() {
      this.push(left-- > 0 ? piece : null);
    },
  });
}

/** A zip (the server keeps only zips) holding UPLOAD_MB of those bytes, stored as they are. */
function payload(seed: number): Readable {
  const zip = new ZipFile();
  zip.addReadStream(rawBytes(seed), 'payload.bin', { compress: false, size: UPLOAD_MB * 1048576 });
  zip.end();
  return zip.outputStream as unknown as Readable;
}

async function collection(): Promise<{ seconds: number; zipMb: number }> {
  const dataDir = mkdtempSync(join(tmpdir(), 'cordon-bench-pkg-'));
  let bytes = 0;
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      bytes += chunk.length;
      done();
    },
  });
  const t = performance.now();
  await producePackage(sink, { dataDir });
  rmSync(dataDir, { recursive: true, force: true });
  return { seconds: (performance.now() - t) / 1000, zipMb: bytes / 1048576 };
}

const STREAM_MB = 256;

/** Peak growth of this process's RSS while `f` runs, sampled every 20 ms. */
async function rssGrowth(f: () => Promise<void>): Promise<number> {
  global.gc?.();
  const before = rssMb(process.pid);
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, rssMb(process.pid))), 20);
  try {
    await f();
  } finally {
    clearInterval(timer);
  }
  return Math.max(peak, rssMb(process.pid)) - before;
}

/** A consumer slower than the producer, like an upload. */
const slowSink = () =>
  new Writable({
    write(_c: Buffer, _e, done) {
      setImmediate(done);
    },
  });

/** The package producer streaming one large file, against a plain pipeline of the same bytes into the same consumer. */
async function producerStreaming(): Promise<{ producerMb: number; pipeMb: number }> {
  const pipeMb = await rssGrowth(() => pipeline(rawBytes(STREAM_MB, STREAM_MB), slowSink()));
  const producerMb = await rssGrowth(async () => {
    await producePackage(slowSink(), {
      dataDir: '/nonexistent',
      collectorMaxBytes: STREAM_MB * 1048576,
      collectors: [
        {
          folder: 'Big',
          name: 'big',
          source: 'bench',
          timeoutMs: 600_000,
          maxBytes: STREAM_MB * 1048576,
          async *collect() {
            yield { name: 'big.bin', source: 'bench', content: rawBytes(STREAM_MB, STREAM_MB) };
          },
        },
      ],
    });
  });
  return { producerMb, pipeMb };
}

async function baselineCopy(dir: string): Promise<number> {
  const t = performance.now();
  await Promise.all(Array.from({ length: UPLOADS }, (_, i) => pipeline(payload(i), createWriteStream(join(dir, `copy-${i}.bin`)))));
  return (UPLOADS * UPLOAD_MB) / ((performance.now() - t) / 1000);
}

async function main(): Promise<void> {
  const c = await collection();
  log(`collection on this machine: ${c.seconds.toFixed(1)} s, zip ${c.zipMb.toFixed(2)} MB`);
  const st = await producerStreaming();
  log(`producer streaming ${STREAM_MB} MB to a slow consumer: RSS growth ${st.producerMb.toFixed(0)} MB (plain pipeline ${st.pipeMb.toFixed(0)} MB)`);

  const serverDir = mkdtempSync(join(tmpdir(), 'cordon-bench-srv-'));
  const copyDir = mkdtempSync(join(tmpdir(), 'cordon-bench-copy-'));
  const agentDirs: string[] = [];
  const port = await freePort();
  const agentPort = await freePort();
  const server = new CordonProcess(['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn' });
  try {
    const token = await server.line(/^admin token: (\S+)$/m);
    const api = new CordonClient(`http://127.0.0.1:${port}`, token);
    const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim();
    const devices = [];
    for (let i = 0; i < UPLOADS; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'cordon-bench-dev-'));
      agentDirs.push(dir);
      const inv = { hostname: `bench-${i}`, osPlatform: 'Linux', osVersion: 'bench', osProcessor: 'x64', kernel: '6', ipAddresses: [], agentVersion: '0.2.0', capabilities: [{ name: 'investigationPackage', version: '1' }], deviceTags: [] };
      const state = await enroll(`https://127.0.0.1:${agentPort}`, enrollment, dir, inv);
      const action = await api.submit(state.machineId, 'collectInvestigationPackage', { Comment: 'bench' });
      devices.push({ state, actionId: action.id });
    }
    const pid = server.child.pid!;
    const before = rssMb(pid);
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, rssMb(pid))), 100);
    const t = performance.now();
    const results = await Promise.all(devices.map((d, i) => new PackageUploader(d.state).upload(d.actionId, payload(i))));
    const seconds = (performance.now() - t) / 1000;
    clearInterval(sampler);
    const ingest = (UPLOADS * UPLOAD_MB) / seconds;
    const copy = await baselineCopy(copyDir);
    const growth = peak - before;
    log(`\n| metric | cordon upload | plain file copy | ratio |`);
    log('| --- | --- | --- | --- |');
    log(`| ${UPLOADS} x ${UPLOAD_MB} MB ingest | ${ingest.toFixed(0)} MB/s | ${copy.toFixed(0)} MB/s | ${(ingest / copy).toFixed(2)}x |`);
    log(`| server RSS before / peak / growth | ${before.toFixed(0)} / ${peak.toFixed(0)} / ${growth.toFixed(0)} MB | | |`);
    log(`| collection on this machine | ${c.seconds.toFixed(1)} s, ${c.zipMb.toFixed(2)} MB zip | | |`);
    log(`| producer RSS growth, ${STREAM_MB} MB file to a slow consumer | ${st.producerMb.toFixed(0)} MB | ${st.pipeMb.toFixed(0)} MB (plain pipeline) | ${(st.producerMb / Math.max(1, st.pipeMb)).toFixed(2)}x |`);
    if (results.some((r) => r.size < UPLOAD_MB * 1048576 || r.size > UPLOAD_MB * 1048576 + 4096)) throw new Error('an upload ended with the wrong size');
    process.stdout.write(`RESULT: ${UPLOADS} concurrent ${UPLOAD_MB} MB uploads at ${ingest.toFixed(0)} MB/s (plain copy ${copy.toFixed(0)} MB/s, ratio ${(ingest / copy).toFixed(2)}x); server RSS growth ${growth.toFixed(0)} MB (target <= 100 MB: ${growth <= 100 ? 'met' : 'NOT met'}); collection ${c.seconds.toFixed(1)} s, zip ${c.zipMb.toFixed(2)} MB; producer RSS growth streaming ${STREAM_MB} MB ${st.producerMb.toFixed(0)} MB (plain pipeline ${st.pipeMb.toFixed(0)} MB)\n`);
  } finally {
    await server.kill('SIGKILL');
    for (const d of [serverDir, copyDir, ...agentDirs]) rmSync(d, { recursive: true, force: true });
  }
}

await main();
