import type { ScanRoot } from '../platform/types.js';
import { DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './archives.js';
import type { ClamAvEngine } from './clamav.js';
import type { FileFacts, FileOutcome, RuleHit, ScanSkipReason, SkippedItem } from './file-scan.js';
import type { FileHashes, FileHashIndicators } from './hash-indicators.js';
import type { CpuPacer } from './pacer.js';
import type { ScanRuleSet } from './rules.js';
import { ScanPool } from './scan-pool.js';
import { walkFiles, type FoundFile, type WalkCounts } from './walk.js';

/** How a scan reads files. */
export interface ScanLimits {
  /** Larger files are listed as skipped (TooLarge), never silently dropped. */
  maxFileBytes: number;
  /** Files up to this size are read whole (into each worker's reused buffer); larger ones are scanned in place and hashed in pieces. */
  bufferBytes: number;
  archives: ArchiveLimits;
  /** Worker threads that read, hash and scan files (the main thread walks, paces and judges). */
  concurrency: number;
  /** A rule set that takes longer than this on one file gives up on it (listed as skipped: Timeout). */
  fileTimeoutMs: number;
}

export const DEFAULT_SCAN_LIMITS: ScanLimits = { maxFileBytes: 1024 * 1024 * 1024, bufferBytes: 32 * 1024 * 1024, archives: DEFAULT_ARCHIVE_LIMITS, concurrency: 2, fileTimeoutMs: 60_000 };

/** Why a file (or an archive member) was not scanned, or not whole. */
export type SkipReason = ScanSkipReason;

export type Skipped = SkippedItem;

/** One thing found: a file (or an archive member: `outer.zip!inner`) a rule or an indicator matched. */
export interface Detection {
  path: string;
  engine: 'YARA' | 'Indicator' | 'ClamAV';
  /** The rule's name, or the indicator's title. */
  threat: string;
  /** The pack the rule is in, or the indicator's id. */
  source: string;
  /** Every rule that matched this file (YARA), the first being `threat`. */
  rules: string[];
  severity: 'Informational' | 'Low' | 'Medium' | 'High';
  category: string;
  description: string | null;
  mitre: string[];
  /** Hashes of the file on disk (for a member, the archive's), and of the member itself. */
  hashes: FileHashes;
  memberSha256?: string;
  size: number;
  mtime: string;
  uid: number;
  dev: number;
  ino: number;
}

/** What a scan did so far, for progress. */
export interface ScanCounts {
  files: number;
  bytes: number;
  members: number;
  detections: number;
  skipped: number;
  directory: string | null;
}

/** What ClamAV did in a scan, when it took part. */
export interface ClamAvOutcome {
  files: number;
  /** Files ClamAV could not scan (whole), with why: YARA and the indicators still did. */
  problems: number;
  problemList: { path: string; detail: string }[];
}

export interface ScanOutcome extends ScanCounts {
  cancelled: boolean;
  clamav: ClamAvOutcome | null;
  detectionList: Detection[];
  skippedList: Skipped[];
  /** Skips by reason (all of them; the list keeps the first ones). */
  skippedByReason: Partial<Record<SkipReason, number>>;
  walk: WalkCounts;
}

/** One scanned file, for the index StopAndQuarantineFile searches. */
export interface IndexedFile {
  path: string;
  sha256: string;
  sha1: string;
  size: number;
  dev: number;
  ino: number;
}

export interface ScannerDeps {
  rules: ScanRuleSet;
  indicators: FileHashIndicators;
  pacer: CpuPacer;
  limits: ScanLimits;
  /** Called as each detection is made (the agent journals it as an event right away). */
  onDetection(d: Detection): void;
  onFile?(f: IndexedFile): void;
  /** Skips kept in the outcome's list (the rest are counted). */
  maxSkippedListed?: number;
  /** ClamAV as an extra engine, given files in batches (each clamscan run loads its database again). */
  clamav?: { engine: ClamAvEngine; batchFiles: number };
  /** The scan worker's module, when not the one beside the scanner (see ScanPool.start). */
  workerModule?: URL;
}

/** A file scanned, waiting for ClamAV's batch. */
interface Pending {
  path: string;
  facts: FileFacts;
  hashes: FileHashes;
}

const SEVERITIES = ['Informational', 'Low', 'Medium', 'High'] as const;
const severityOf = (v: unknown): Detection['severity'] => {
  const s = typeof v === 'string' ? SEVERITIES.find((x) => x.toLowerCase() === v.toLowerCase()) : undefined;
  if (s) return s;
  // Numeric severities (common in public rules): 1-2 Low, 3 Medium, 4+ High.
  if (typeof v === 'number') return v >= 4 ? 'High' : v >= 3 ? 'Medium' : v >= 1 ? 'Low' : 'Informational';
  return 'Medium';
};

/**
 * Scans the files under `roots` with YARA rules and file-hash indicators: each file whole, and
 * each member of an archive within the archive limits; paced to the CPU cap; cancelled through
 * `signal` (the walk stops at once and files in flight are abandoned). Nothing a file does (vanish,
 * refuse to open, time out) stops the scan: it is counted and listed.
 */
export class Scanner {
  readonly counts: ScanCounts = { files: 0, bytes: 0, members: 0, detections: 0, skipped: 0, directory: null };
  readonly #detections: Detection[] = [];
  readonly #skipped: Skipped[] = [];
  readonly #byReason: Partial<Record<SkipReason, number>> = {};
  readonly #walk: WalkCounts = { directories: 0, special: 0, links: 0 };
  #clamPending: Pending[] = [];
  #clamRunning: Promise<void> = Promise.resolve();
  readonly #clam: ClamAvOutcome = { files: 0, problems: 0, problemList: [] };

  constructor(private readonly deps: ScannerDeps) {}

  async run(roots: ScanRoot[], opts: { signal: AbortSignal; exclude?: string[] }): Promise<ScanOutcome> {
    const { signal } = opts;
    const { limits, rules, indicators } = this.deps;
    const cancelled = new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    const starting = ScanPool.start(Math.max(1, limits.concurrency), {
      rules: rules.rules.serialize(),
      fileTimeoutMs: limits.fileTimeoutMs,
      settings: { maxFileBytes: limits.maxFileBytes, bufferBytes: limits.bufferBytes, archives: limits.archives, md5: indicators.needs('md5'), indicatorHashes: indicators.hashes() },
    }, this.deps.workerModule);
    // Cancelled while the workers start: the scan ends now, and the workers once they have started.
    const pool = await Promise.race([starting, cancelled]);
    if (!pool) {
      starting.then((p) => p.close(), () => undefined);
      return this.#outcome(true);
    }
    const inFlight = new Set<Promise<void>>();
    // A file's work never rejects (nobody may be waiting on it yet): what breaks the scan is kept here.
    let failure: Error | null = null;
    try {
      for await (const item of walkFiles(roots, { signal, exclude: opts.exclude, counts: this.#walk })) {
        if ('directory' in item) {
          this.counts.directory = item.directory;
          continue;
        }
        if ('problem' in item) {
          this.#skip({ path: item.path, reason: item.problem, detail: item.detail });
          continue;
        }
        await this.deps.pacer.pace(signal);
        while (inFlight.size >= pool.capacity && !signal.aborted && !failure) await Promise.race([...inFlight, cancelled]);
        if (failure) throw failure;
        if (signal.aborted) break;
        const tracked: Promise<void> = pool
          .scan(item.path, item.readVia)
          .then((outcome) => (signal.aborted ? undefined : this.#take(item, outcome, signal)))
          .catch((e: unknown) => void (failure ??= e as Error))
          .finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
      }
      // Files in flight are abandoned when cancelled: their results are dropped.
      if (!signal.aborted) await Promise.race([Promise.all(inFlight), cancelled]);
      if (failure) throw failure;
      if (!signal.aborted) await Promise.race([this.#clamFlush(signal), cancelled]);
    } finally {
      // Cancelled: a worker may be deep in a large file; it is stopped without waiting for it.
      const closing = pool.close();
      if (!signal.aborted) await closing;
    }
    return this.#outcome(signal.aborted);
  }

  #outcome(cancelled: boolean): ScanOutcome {
    return {
      ...this.counts,
      cancelled,
      clamav: this.deps.clamav ? { ...this.#clam } : null,
      detectionList: [...this.#detections],
      skippedList: [...this.#skipped],
      skippedByReason: { ...this.#byReason },
      walk: { ...this.#walk },
    };
  }

  /** What a worker made of one file: counted, indexed, queued for ClamAV, judged with its archive members. */
  async #take(file: FoundFile, o: FileOutcome, signal: AbortSignal): Promise<void> {
    if (o.kind === 'skipped') return this.#skip(o.skipped);
    this.counts.files++;
    this.counts.bytes += o.facts.size;
    this.deps.onFile?.({ path: file.path, sha256: o.hashes.sha256!, sha1: o.hashes.sha1!, size: o.facts.size, dev: o.facts.dev, ino: o.facts.ino });
    if (this.deps.clamav && !file.readVia) await this.#clamQueue({ path: file.path, facts: o.facts, hashes: o.hashes }, signal);
    if ('hits' in o.rules) this.#judge(file.path, o.facts, o.hashes, o.rules.hits, null);
    else this.#skip({ path: file.path, reason: o.rules.timeout ? 'Timeout' : 'Error', detail: o.rules.timeout ? `the rules took longer than ${this.deps.limits.fileTimeoutMs} ms` : o.rules.problem });
    this.counts.members += o.memberCount;
    for (const m of o.members) {
      if ('hits' in m.rules) this.#judge(m.path, o.facts, o.hashes, m.rules.hits, { sha256: m.sha256 });
      else this.#skip({ path: m.path, reason: m.rules.timeout ? 'Timeout' : 'Error', detail: m.rules.problem });
    }
    for (const s of o.skipped) this.#skip(s);
  }

  #skip(s: Skipped): void {
    this.counts.skipped++;
    this.#byReason[s.reason] = (this.#byReason[s.reason] ?? 0) + 1;
    if (this.#skipped.length < (this.deps.maxSkippedListed ?? 1000)) this.#skipped.push(s);
  }

  /** Adds a file to ClamAV's batch; a full batch goes once the one before it is done (one at a time). */
  async #clamQueue(p: Pending, signal: AbortSignal): Promise<void> {
    this.#clamPending.push(p);
    if (this.#clamPending.length >= this.deps.clamav!.batchFiles) await this.#clamFlush(signal);
  }

  #clamFlush(signal: AbortSignal): Promise<void> {
    const batch = this.#clamPending;
    this.#clamPending = [];
    if (batch.length === 0 || !this.deps.clamav) return this.#clamRunning;
    const engine = this.deps.clamav.engine;
    // Waiting for the batch before this one keeps one ClamAV run going and the queue bounded.
    this.#clamRunning = this.#clamRunning.then(async () => {
      if (signal.aborted) return;
      let scan;
      try {
        scan = await engine.scanFiles(batch.map((b) => b.path), signal);
      } catch (e) {
        if (signal.aborted) return;
        scan = { found: new Map<string, string[]>(), problems: new Map(batch.map((b) => [b.path, (e as Error).message])) };
      }
      this.#clam.files += batch.length - scan.problems.size;
      for (const [path, detail] of scan.problems) {
        this.#clam.problems++;
        if (this.#clam.problemList.length < 50) this.#clam.problemList.push({ path, detail });
      }
      for (const b of batch) {
        const names = scan.found.get(b.path);
        if (!names?.length || this.deps.indicators.allowed(b.hashes)) continue;
        const d: Detection = {
          path: b.path,
          engine: 'ClamAV',
          threat: names[0]!,
          source: engine.available.version,
          rules: names,
          severity: /eicar/i.test(names[0]!) ? 'Informational' : /^(Heuristics|PUA)\./.test(names[0]!) ? 'Low' : 'High',
          category: 'Malware',
          description: `ClamAV's signature ${names[0]} matched the file.`,
          mitre: [],
          hashes: b.hashes,
          size: b.facts.size,
          mtime: new Date(b.facts.mtimeMs).toISOString(),
          uid: b.facts.uid,
          dev: b.facts.dev,
          ino: b.facts.ino,
        };
        this.counts.detections++;
        this.#detections.push(d);
        this.deps.onDetection(d);
      }
    });
    return this.#clamRunning;
  }

  /** A detection when a rule matched the file (or member) or its hash is an indicator, unless an Allowed indicator silences it. */
  #judge(path: string, facts: FileFacts, hashes: FileHashes, matches: RuleHit[], member: { sha256: string } | null): void {
    const own = member ? { sha256: member.sha256 } : hashes;
    // An Allowed indicator (MDE's allow) silences rules too.
    if (this.deps.indicators.allowed(own)) return;
    const indicator = this.deps.indicators.match(own);
    if (matches.length === 0 && !indicator) return;
    const base = { path, hashes, ...(member ? { memberSha256: member.sha256 } : {}), size: facts.size, mtime: new Date(facts.mtimeMs).toISOString(), uid: facts.uid, dev: facts.dev, ino: facts.ino };
    const ranked = [...matches].sort((a, b) => SEVERITIES.indexOf(severityOf(b.meta.severity)) - SEVERITIES.indexOf(severityOf(a.meta.severity)));
    const top = ranked[0];
    const d: Detection = top
      ? {
          ...base,
          engine: 'YARA',
          threat: top.ruleIdentifier,
          source: this.deps.rules.packOf.get(top.ruleIdentifier) ?? 'rules',
          rules: ranked.map((m) => m.ruleIdentifier),
          severity: severityOf(top.meta.severity),
          category: typeof top.meta.category === 'string' ? top.meta.category : 'Malware',
          description: typeof top.meta.description === 'string' ? top.meta.description : null,
          mitre: typeof top.meta.mitre === 'string' ? top.meta.mitre.split(/[\s,]+/).filter((t) => /^T\d{4}(\.\d{3})?$/.test(t)) : [],
        }
      : {
          ...base,
          engine: 'Indicator',
          threat: indicator!.title,
          source: `indicator ${indicator!.id}`,
          rules: [],
          severity: severityOf(indicator!.severity),
          category: 'Malware',
          description: `The file's ${indicator!.type.replace('File', '')} is an indicator of compromise (${indicator!.action}).`,
          mitre: [],
        };
    this.counts.detections++;
    this.#detections.push(d);
    this.deps.onDetection(d);
  }
}
