import { createHash, webcrypto } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { YaraRuleMatch } from '@cordon/protocol/yara';
import type { ScanRoot } from '../platform/types.js';
import { archiveKindOf, archiveMembers, DEFAULT_ARCHIVE_LIMITS, type ArchiveLimits } from './archives.js';
import type { ClamAvEngine } from './clamav.js';
import type { FileHashes, FileHashIndicators } from './hash-indicators.js';
import type { CpuPacer } from './pacer.js';
import type { ScanRuleSet } from './rules.js';
import { walkFiles, type FoundFile, type WalkCounts } from './walk.js';

/** How a scan reads files. */
export interface ScanLimits {
  /** Larger files are listed as skipped (TooLarge), never silently dropped. */
  maxFileBytes: number;
  /** Files up to this size are read whole into memory; larger ones are scanned in place and hashed as a stream. */
  bufferBytes: number;
  archives: ArchiveLimits;
  /** Files scanned at once (the scans themselves run on the thread pool, off the main thread). */
  concurrency: number;
  /** A rule set that takes longer than this on one file gives up on it (listed as skipped: Timeout). */
  fileTimeoutMs: number;
}

export const DEFAULT_SCAN_LIMITS: ScanLimits = { maxFileBytes: 1024 * 1024 * 1024, bufferBytes: 32 * 1024 * 1024, archives: DEFAULT_ARCHIVE_LIMITS, concurrency: 2, fileTimeoutMs: 60_000 };

/** Why a file (or an archive member) was not scanned, or not whole. */
export type SkipReason = 'Vanished' | 'Unreadable' | 'NotRegular' | 'TooLarge' | 'Timeout' | 'Error' | 'TooDeep' | 'TooManyMembers' | 'TotalTooLarge' | 'Encrypted' | 'Corrupt' | 'Unsupported';

export interface Skipped {
  path: string;
  reason: SkipReason;
  detail: string;
}

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
}

/** A file scanned, waiting for ClamAV's batch. */
interface Pending {
  path: string;
  st: Stats;
  hashes: FileHashes;
}

/**
 * Below this size a file is scanned and hashed on the main thread: handing it to the thread pool
 * costs more (about 1 ms a call for a YARA scan) than the work itself (microseconds for a small file).
 */
const POOL_FROM_BYTES = 1024 * 1024;

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

  readonly #hashes: { md5: boolean };

  constructor(private readonly deps: ScannerDeps) {
    deps.rules.rules.setTimeout(deps.limits.fileTimeoutMs);
    this.#hashes = { md5: deps.indicators.needs('md5') };
  }

  async run(roots: ScanRoot[], opts: { signal: AbortSignal; exclude?: string[] }): Promise<ScanOutcome> {
    const { signal } = opts;
    const inFlight = new Set<Promise<void>>();
    const cancelled = new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
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
      while (inFlight.size >= this.deps.limits.concurrency && !signal.aborted) await Promise.race([...inFlight, cancelled]);
      if (signal.aborted) break;
      const work = this.#scanFile(item, signal).finally(() => inFlight.delete(work));
      inFlight.add(work);
    }
    // Files in flight finish on their own when cancelled: their results are dropped.
    if (!signal.aborted) await Promise.race([Promise.all(inFlight), cancelled]);
    if (!signal.aborted) await Promise.race([this.#clamFlush(signal), cancelled]);
    return {
      ...this.counts,
      cancelled: signal.aborted,
      clamav: this.deps.clamav ? { ...this.#clam } : null,
      detectionList: [...this.#detections],
      skippedList: [...this.#skipped],
      skippedByReason: { ...this.#byReason },
      walk: { ...this.#walk },
    };
  }

  #skip(s: Skipped): void {
    this.counts.skipped++;
    this.#byReason[s.reason] = (this.#byReason[s.reason] ?? 0) + 1;
    if (this.#skipped.length < (this.deps.maxSkippedListed ?? 1000)) this.#skipped.push(s);
  }

  async #scanFile(file: FoundFile, signal: AbortSignal): Promise<void> {
    let fh: FileHandle;
    try {
      // Never through a link a user planted (O_NOFOLLOW), never blocking on a FIFO swapped in (O_NONBLOCK).
      // readVia is a kernel magic link (/proc/<pid>/exe) that must be followed.
      fh = await open(file.readVia ?? file.path, constants.O_RDONLY | constants.O_NONBLOCK | (file.readVia ? 0 : constants.O_NOFOLLOW));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      this.#skip({ path: file.path, reason: code === 'ENOENT' || code === 'ELOOP' ? 'Vanished' : 'Unreadable', detail: code === 'ELOOP' ? 'replaced by a symbolic link before it was read' : (e as Error).message });
      return;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) return this.#skip({ path: file.path, reason: 'NotRegular', detail: 'replaced by something that is not a regular file before it was read' });
      if (st.size > this.deps.limits.maxFileBytes) return this.#skip({ path: file.path, reason: 'TooLarge', detail: `${st.size} bytes; the limit is ${this.deps.limits.maxFileBytes}` });
      const whole = st.size <= this.deps.limits.bufferBytes;
      const bytes = whole ? await fh.readFile() : null;
      if (signal.aborted) return;
      const inPlace = `/proc/self/fd/${fh.fd}`;
      const [matches, hashes] = await Promise.all([this.#yara(bytes ?? inPlace), bytes ? hashBuffer(bytes, this.#wanted()) : hashStream(fh, this.#wanted())]);
      if (signal.aborted) return;
      this.counts.files++;
      this.counts.bytes += bytes?.length ?? st.size;
      this.deps.onFile?.({ path: file.path, sha256: hashes.sha256!, sha1: hashes.sha1!, size: st.size, dev: st.dev, ino: st.ino });
      if (this.deps.clamav && !file.readVia) await this.#clamQueue({ path: file.path, st, hashes }, signal);
      if (matches === 'Timeout') this.#skip({ path: file.path, reason: 'Timeout', detail: `the rules took longer than ${this.deps.limits.fileTimeoutMs} ms` });
      else if (typeof matches === 'string') this.#skip({ path: file.path, reason: 'Error', detail: matches });
      else await this.#judge(file.path, st, hashes, matches, bytes, null);
      const head = bytes ? bytes.subarray(0, 512) : await readHead(fh);
      if (archiveKindOf(head)) await this.#scanArchive(file.path, st, hashes, bytes ? { name: file.path, bytes } : { path: inPlace }, inPlace, signal);
    } catch (e) {
      this.#skip({ path: file.path, reason: 'Error', detail: (e as Error).message });
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  async #scanArchive(path: string, st: Stats, outer: FileHashes, source: { name: string; bytes: Buffer } | { path: string }, inPlace: string, signal: AbortSignal): Promise<void> {
    // Members are labelled from the name given; an archive read in place is named by its fd path.
    const label = (p: string) => ('path' in source && p.startsWith(inPlace) ? path + p.slice(inPlace.length) : p);
    try {
      for await (const item of archiveMembers(source, this.deps.limits.archives, signal)) {
        if (item.kind === 'skipped') {
          this.#skip({ path: label(item.path), reason: item.reason, detail: item.detail });
          continue;
        }
        this.counts.members++;
        const matches = await this.#yara(item.bytes);
        const memberSha256 = item.bytes.length < POOL_FROM_BYTES ? createHash('sha256').update(item.bytes).digest('hex') : await hex('SHA-256', item.bytes);
        const indicator = this.deps.indicators.match({ sha256: memberSha256 });
        if (typeof matches === 'string') this.#skip({ path: label(item.path), reason: matches === 'Timeout' ? 'Timeout' : 'Error', detail: matches });
        else await this.#judge(label(item.path), st, outer, matches, item.bytes, { sha256: memberSha256, indicator });
      }
    } catch (e) {
      if (!signal.aborted) this.#skip({ path, reason: 'Error', detail: `reading it as an archive: ${(e as Error).message}` });
    }
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
          size: b.st.size,
          mtime: b.st.mtime.toISOString(),
          uid: b.st.uid,
          dev: b.st.dev,
          ino: b.st.ino,
        };
        this.counts.detections++;
        this.#detections.push(d);
        this.deps.onDetection(d);
      }
    });
    return this.#clamRunning;
  }

  /** Rule matches, 'Timeout', or an error message. */
  async #yara(target: Buffer | string): Promise<YaraRuleMatch[] | string> {
    const rules = this.deps.rules.rules;
    try {
      if (typeof target === 'string') return await rules.scanFileAsync(target);
      return target.length < POOL_FROM_BYTES ? rules.scan(target) : await rules.scanAsync(target);
    } catch (e) {
      const message = (e as Error).message;
      return /timed out/i.test(message) ? 'Timeout' : message;
    }
  }

  /** Hashes a scan works out: SHA-256 and SHA-1 always (the quarantine index), MD5 when an indicator needs it. */
  #wanted(): { md5: boolean } {
    return this.#hashes;
  }

  async #judge(path: string, st: Stats, hashes: FileHashes, matches: YaraRuleMatch[], bytes: Buffer | null, member: { sha256: string; indicator: ReturnType<FileHashIndicators['match']> } | null): Promise<void> {
    const own = member ? { sha256: member.sha256 } : hashes;
    // An Allowed indicator (MDE's allow) silences rules too.
    if (this.deps.indicators.allowed(own)) return;
    const indicator = member ? member.indicator : this.deps.indicators.match(hashes);
    if (matches.length === 0 && !indicator) return;
    if (!member && !hashes.md5 && bytes) hashes.md5 = createHash('md5').update(bytes).digest('hex');
    const base = { path, hashes, ...(member ? { memberSha256: member.sha256 } : {}), size: st.size, mtime: st.mtime.toISOString(), uid: st.uid, dev: st.dev, ino: st.ino };
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

async function hex(algorithm: 'SHA-256' | 'SHA-1', bytes: Buffer): Promise<string> {
  // WebCrypto digests run on the thread pool, beside the scans, not on the main thread.
  return Buffer.from(await webcrypto.subtle.digest(algorithm, bytes)).toString('hex');
}

async function hashBuffer(bytes: Buffer, wanted: { md5: boolean }): Promise<FileHashes> {
  const sync = bytes.length < POOL_FROM_BYTES;
  const [sha256, sha1] = sync ? [createHash('sha256').update(bytes).digest('hex'), createHash('sha1').update(bytes).digest('hex')] : await Promise.all([hex('SHA-256', bytes), hex('SHA-1', bytes)]);
  return { sha256, sha1, ...(wanted.md5 ? { md5: createHash('md5').update(bytes).digest('hex') } : {}) };
}

async function hashStream(fh: FileHandle, wanted: { md5: boolean }): Promise<FileHashes> {
  const sha256 = createHash('sha256');
  const sha1 = createHash('sha1');
  const md5 = wanted.md5 ? createHash('md5') : null;
  for await (const chunk of fh.createReadStream({ start: 0, autoClose: false, highWaterMark: 1024 * 1024 })) {
    sha256.update(chunk as Buffer);
    sha1.update(chunk as Buffer);
    md5?.update(chunk as Buffer);
  }
  return { sha256: sha256.digest('hex'), sha1: sha1.digest('hex'), ...(md5 ? { md5: md5.digest('hex') } : {}) };
}

async function readHead(fh: FileHandle): Promise<Buffer> {
  const buf = Buffer.alloc(512);
  const { bytesRead } = await fh.read(buf, 0, 512, 0);
  return buf.subarray(0, bytesRead);
}
