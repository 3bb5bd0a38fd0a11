import { mkdirSync, renameSync } from 'node:fs';
import { readFile, statfs } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { ActionParameters } from '@cordon/protocol';
import type { FileProcess, ScanRoot, ScanScope, ScanType } from '../../platform/types.js';
import { ClamAvEngine, probeClamAv } from '../../scan/clamav.js';
import { FileHashIndicators } from '../../scan/hash-indicators.js';
import { ScanIndexWriter } from '../../scan/index-writer.js';
import { CpuPacer } from '../../scan/pacer.js';
import { DEFAULT_SCAN_LIMITS, Scanner, type Detection } from '../../scan/scanner.js';
import { walkFiles } from '../../scan/walk.js';
import { parsePasswd } from '../collect-package/parsers/accounts.js';
import type { ActionContext, ActionManifest, Scanning } from '../types.js';
import { detectionAlert } from './alert.js';

type Params = { scanType: ScanType; cpuPercent?: number };

/** Most detections and skipped files a result lists (all are counted; every detection is an alert). */
const LISTED = 200;
/** How long a Quick scan may spend adding up what it will read, for its progress estimate. */
const SIZING_MS = 10_000;

/**
 * Run antivirus scan: Quick (where Linux malware lives and starts from) or Full (every local file
 * system), with the agent's YARA rules and file-hash indicators, paced to a CPU cap. Each detection
 * is journaled as an event as it is found (an alert on the server, none lost offline); the files
 * scanned are indexed for StopAndQuarantineFile; the result counts everything and lists what was
 * skipped and why.
 */
export const runAntiVirusScan: ActionManifest<Params> = {
  type: 'RunAntiVirusScan',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.RunAntiVirusScan,
  timeoutMs: 24 * 3600_000,
  maxResultBytes: 512 * 1024,
  // One at a time: a second scan would read the same files again and double the load.
  concurrency: 1,
  async probe() {
    return { provider: 'YARA-X' };
  },
  async run(params, ctx) {
    const scanning = ctx.scanning;
    if (!scanning) throw new Error('This agent has no scanner set up');
    return scan(params, ctx, scanning);
  },
};

async function scan(params: Params, ctx: ActionContext, s: Scanning): Promise<Record<string, unknown>> {
  const started = performance.now();
  const cap = (params.cpuPercent ?? s.settings.cpuPercent) / 100;
  const scope: ScanScope = s.settings.roots ? { roots: s.settings.roots.map((path): ScanRoot => ({ path, why: 'filesystem', recursive: true })), skipped: [] } : await ctx.platform.scanScope(params.scanType, { networkMounts: s.settings.networkMounts });
  const rules = s.rules.current();
  const active = s.indicators.active();
  const indicators = new FileHashIndicators(active);
  const pacer = new CpuPacer(cap, availableParallelism(), () => ctx.platform.cpuMicros());
  const users = await accounts();
  const clamav = s.settings.clamav.mode === 'off' ? { unavailable: 'turned off (scanClamav: off)' } : await probeClamAv({ databaseDir: s.settings.clamav.databaseDir, clamdSocket: s.settings.clamav.clamdSocket }, ctx.platform.processes);
  const clamEngine = 'unavailable' in clamav ? undefined : new ClamAvEngine(clamav, { maxFileBytes: s.settings.maxFileBytes, files: ctx.platform.files() });
  const userOf = (uid: number) => users.get(uid) ?? null;

  // The index of what this scan read (path and hashes), for StopAndQuarantineFile; replaced at the end.
  const dir = join(ctx.dataDir, 'scan');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const index = new ScanIndexWriter(join(dir, 'index.jsonl.part'));

  const listed: { path: string; threat: string; engine: string; source: string; severity: string; sha256: string | undefined; eventId: string }[] = [];
  const pending: Detection[] = [];
  // One report at a time: the last one (after the scan) must find every earlier one finished, or a
  // detection still being reported would be missing from the result's list.
  let reporting = Promise.resolve();
  const report = (): Promise<void> => (reporting = reporting.then(reportPending, reportPending));
  const reportPending = async () => {
    const batch = pending.splice(0);
    if (batch.length === 0) return;
    const using = await ctx.platform.processesUsing(batch.filter((d) => !d.path.includes('!')).map((d) => ({ dev: d.dev, ino: d.ino }))).catch(() => new Map<string, FileProcess[]>());
    for (const d of batch) {
      const { eventId } = s.reportEvent('detection', { ...detectionAlert(d, params.scanType, userOf(d.uid), d.path.includes('!') ? [] : (using.get(`${d.dev}:${d.ino}`) ?? []), userOf) });
      if (listed.length < LISTED) listed.push({ path: d.path, threat: d.threat, engine: d.engine, source: d.source, severity: d.severity, sha256: d.memberSha256 ?? d.hashes.sha256, eventId });
    }
  };

  const scanner = new Scanner({
    rules,
    indicators,
    pacer,
    limits: { ...DEFAULT_SCAN_LIMITS, maxFileBytes: s.settings.maxFileBytes, concurrency: Math.max(1, Math.min(4, availableParallelism())) },
    onDetection: (d) => pending.push(d),
    onFile: (f) => index.add(f),
    maxSkippedListed: LISTED,
    ...(clamEngine ? { clamav: { engine: clamEngine, batchFiles: clamEngine.available.engine === 'clamd' ? 200 : 5000 } } : {}),
  });

  const total = await estimateBytes(params.scanType, scope.roots, ctx.signal);
  const tick = setInterval(() => {
    void report();
    const c = scanner.counts;
    const percent = total ? Math.min(99, (c.bytes / total) * 100) : 0;
    const rate = c.bytes / Math.max(1, performance.now() - started);
    const left = total && rate > 0 ? (total - c.bytes) / rate / 1000 : null;
    ctx.progress(percent, progressLine(c.files, c.bytes, c.detections, c.directory, left));
  }, 1000);
  let outcome;
  try {
    // Nor the quarantine vault: what it holds was dealt with (and would be found again on every scan).
    outcome = await scanner.run(scope.roots, { signal: ctx.signal, exclude: [...s.settings.exclude, dir, join(ctx.dataDir, 'quarantine')] });
  } finally {
    clearInterval(tick);
    await report();
    await index.end();
  }
  renameSync(join(dir, 'index.jsonl.part'), join(dir, 'index.jsonl'));
  if (outcome.cancelled) throw new Error('The scan was cancelled');
  return {
    scanType: params.scanType,
    cpuPercentCap: Math.round(cap * 100),
    cpuPercentUsed: Math.round(pacer.used() * 1000) / 10,
    engines: ['YARA-X', ...(clamEngine ? [`${clamEngine.available.version} (${clamEngine.available.engine})`] : [])],
    clamav: clamEngine ? outcome.clamav : { unavailable: 'unavailable' in clamav ? clamav.unavailable : '' },
    rules: { packs: rules.packs, ruleCount: rules.ruleCount, contentVersion: rules.contentVersion },
    hashIndicators: active.filter((e) => e.type.startsWith('File')).length,
    roots: scope.roots.length,
    rootsLeftOut: scope.skipped.slice(0, 50),
    files: outcome.files,
    bytes: outcome.bytes,
    archiveMembers: outcome.members,
    detections: outcome.detections,
    detectionList: listed,
    skipped: outcome.skipped,
    skippedByReason: outcome.skippedByReason,
    skippedList: outcome.skippedList,
    notRead: outcome.walk,
    durationMs: Math.round(performance.now() - started),
  };
}

/** "12,345 files · 1.2 GB · 1 detection · /usr/lib · about 3 min left" */
export function progressLine(files: number, bytes: number, detections: number, directory: string | null, secondsLeft: number | null): string {
  const size = bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : `${Math.round(bytes / 1e6)} MB`;
  const left = secondsLeft === null ? null : secondsLeft < 90 ? `about ${Math.max(1, Math.round(secondsLeft))} s left` : `about ${Math.round(secondsLeft / 60)} min left`;
  const parts = [`${files.toLocaleString('en-US')} files`, size, `${detections} detection${detections === 1 ? '' : 's'}`, directory?.slice(-200) ?? null, left];
  return parts.filter(Boolean).join(' · ').slice(0, 500);
}

/**
 * What the scan will read, in bytes, for its progress: a Full scan's file systems' used space; a
 * Quick scan adds up its files first (lstat only), giving up after SIZING_MS (no estimate then).
 */
async function estimateBytes(type: ScanType, roots: ScanRoot[], signal: AbortSignal): Promise<number | null> {
  if (type === 'Full' && roots.every((r) => r.why === 'filesystem')) {
    let used = 0;
    for (const r of roots) {
      const st = await statfs(r.path).catch(() => null);
      if (st) used += (st.blocks - st.bfree) * st.bsize;
    }
    return used > 0 ? used : null;
  }
  const deadline = AbortSignal.any([signal, AbortSignal.timeout(SIZING_MS)]);
  let bytes = 0;
  for await (const item of walkFiles(roots, { signal: deadline })) if ('size' in item) bytes += item.size;
  return deadline.aborted ? null : bytes;
}

/** User names by uid (/etc/passwd; the first name of a uid), for owners and processes in alerts. */
async function accounts(): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for (const e of parsePasswd(await readFile('/etc/passwd', 'utf8').catch(() => ''))) if (!out.has(e.uid)) out.set(e.uid, e.user);
  return out;
}
