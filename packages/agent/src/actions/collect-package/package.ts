import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { LINUX_COLLECTORS } from './collectors/index.js';
import type { Platform } from '../../platform/types.js';
import { deviceCollectContext } from './context.js';
import { safeName } from './format.js';
import { REDACTED } from './redact.js';
import { SUMMARY_FILE, summaryWorkbook } from './summary.js';
import type { CollectContext, CollectedFile, Collector, DataPoint, DataPointStatus, FileContent, WalkRoots } from './types.js';

export const DEFAULT_COLLECTOR_TIMEOUT_MS = 60_000;
export const DEFAULT_COLLECTOR_MAX_BYTES = 50 * 1024 * 1024;
export const DEFAULT_TOTAL_MAX_BYTES = 1024 * 1024 * 1024;

/** Strings and buffers are handed to the zip in slices this big, so backpressure applies to them too. */
const SLICE = 64 * 1024;

export interface PackageOptions {
  /** The agent's data directory (Support logs reads it, redacted). */
  dataDir: string;
  collectors?: Collector[];
  /** Ceiling on every collector's own time-out. */
  collectorTimeoutMs?: number;
  /** Ceiling on every collector's own size cap (uncompressed bytes). */
  collectorMaxBytes?: number;
  /** Cap on all collected bytes (uncompressed); collectors after it is reached are recorded, not run. */
  totalMaxBytes?: number;
  progress?(percent: number, message: string): void;
  /** Cancels the whole collection (the action was cancelled or timed out): the zip is left unfinished. */
  signal?: AbortSignal;
  now?(): Date;
  /** Where collectors run (default: this device's platform). */
  platform?: Platform;
  /** Directories the file listings walk instead of the usual ones. */
  roots?: WalkRoots;
  /**
   * Seam for tests: the context each collector gets. `deadline` is when the collector's time ends
   * as of its start; `remainingMs` tells the time left, which grows while the producer waits for
   * the consumer of the zip (that wait is not the collector's).
   */
  makeContext?(o: { dataDir: string; deadline: number; remainingMs: () => number; signal: AbortSignal; now: () => Date; roots?: WalkRoots }): CollectContext;
}

export interface PackageSummary {
  collectors: number;
  dataPoints: number;
  succeeded: number;
  failed: number;
  timedOut: number;
  truncated: number;
  notPresent: number;
  /** Uncompressed bytes of everything collected (the report not included). */
  bytes: number;
  /** Bytes of the zip written to the caller's stream. */
  zipBytes: number;
  durationMs: number;
  points: DataPoint[];
}

class Timeout extends Error {
  constructor() {
    super('time-out');
    this.name = 'TimeoutError';
  }
}

/** Resolves like `p`, or rejects as soon as `signal` aborts (the work behind `p` is abandoned). */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason instanceof Error ? signal.reason : new Timeout());
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason instanceof Error ? signal.reason : new Timeout());
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

async function* slices(content: string | Buffer): AsyncGenerator<Buffer> {
  const buf = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
  for (let i = 0; i < buf.length; i += SLICE) yield buf.subarray(i, i + SLICE);
}

function asIterable(content: FileContent): AsyncIterable<Buffer | string> {
  return typeof content === 'string' || Buffer.isBuffer(content) ? slices(content) : content;
}

function errorCode(e: unknown): string {
  const c = (e as NodeJS.ErrnoException).code;
  return typeof c === 'string' ? c : ((e as Error).name ?? 'Error');
}

/**
 * Replaces every occurrence of a secret in a byte stream, also one split across chunks: the last
 * `secret.length - 1` bytes are held back until the next chunk (or the end) shows they are not one.
 */
export class Scrubber {
  private held: Buffer = Buffer.alloc(0);
  private readonly needle: Buffer;
  private readonly replacement = Buffer.from(REDACTED);
  constructor(secret: string) {
    this.needle = Buffer.from(secret, 'utf8');
  }

  push(chunk: Buffer): Buffer {
    const buf = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    const parts: Buffer[] = [];
    let pos = 0;
    for (let i = buf.indexOf(this.needle, pos); i >= 0; i = buf.indexOf(this.needle, pos)) {
      parts.push(buf.subarray(pos, i), this.replacement);
      pos = i + this.needle.length;
    }
    const keep = Math.max(pos, buf.length - (this.needle.length - 1));
    parts.push(buf.subarray(pos, keep));
    this.held = Buffer.from(buf.subarray(keep));
    return Buffer.concat(parts);
  }

  flush(): Buffer {
    const rest = this.held;
    this.held = Buffer.alloc(0);
    return rest;
  }
}

/** Shorter values are too likely to occur by chance to be scrubbed byte-wise. */
const MIN_SECRET_LENGTH = 8;

/**
 * The agent's own enrollment credential: scrubbed from every entry as a backstop, whatever a
 * collector reads (a planted link, a log line that quotes it, a core dump in /tmp).
 */
export async function agentSecrets(dataDir: string): Promise<string[]> {
  try {
    const v = (JSON.parse(await readFile(join(dataDir, 'enrollment.json'), 'utf8')) as { credential?: unknown }).credential;
    return typeof v === 'string' && v.length >= MIN_SECRET_LENGTH ? [v] : [];
  } catch {
    return [];
  }
}

/** The same text with every secret replaced. */
function scrubText(text: string, secrets: string[]): string {
  return secrets.reduce((t, s) => t.split(s).join(REDACTED), text);
}

/**
 * A collector's time-out that can be paused: time the producer spends waiting for the zip's
 * consumer (a slow or paused upload) is not counted against the collector.
 */
class Deadline {
  private at: number;
  private pausedAt: number | null = null;
  private timer: NodeJS.Timeout | undefined;
  constructor(
    timeoutMs: number,
    private readonly onExpire: () => void,
  ) {
    this.at = Date.now() + timeoutMs;
    this.arm();
  }

  private arm(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(this.onExpire, Math.max(0, this.at - Date.now()));
  }

  remaining(): number {
    return Math.max(0, this.at - (this.pausedAt ?? Date.now()));
  }

  pause(): void {
    if (this.pausedAt !== null) return;
    this.pausedAt = Date.now();
    clearTimeout(this.timer);
  }

  resume(): void {
    if (this.pausedAt === null) return;
    this.at += Date.now() - this.pausedAt;
    this.pausedAt = null;
    this.arm();
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

/** What pumpEntry needs besides the content: budgets, signals, the secrets to scrub, the clock to pause. */
interface PumpOptions {
  budget: number;
  deadline: AbortSignal;
  broken: AbortSignal;
  mtime: Date;
  secrets: string[];
  /** Called around each wait for the zip to take more bytes. */
  waiting?: { pause(): void; resume(): void };
}

interface EntryResult {
  bytes: number;
  truncated: boolean;
  timedOut: boolean;
  error?: Error;
}

/**
 * Streams one file into the zip: at most `budget` bytes, stopping when `deadline` aborts, and
 * waiting for the zip to take each slice (so memory holds one slice, not the file). The agent's
 * secrets are scrubbed on the way; the collector's clock is paused while the zip's consumer is slow.
 */
async function pumpEntry(zip: ZipFile, path: string, content: FileContent, o: PumpOptions): Promise<EntryResult> {
  const { budget, deadline, broken } = o;
  const sink = new PassThrough();
  zip.addReadStream(sink, path, { mtime: o.mtime, mode: 0o100644 });
  const it = asIterable(content)[Symbol.asyncIterator]();
  const scrubbers = o.secrets.map((sec) => new Scrubber(sec));
  const scrub = (b: Buffer) => scrubbers.reduce((acc, sc) => sc.push(acc), b);
  const res: EntryResult = { bytes: 0, truncated: false, timedOut: false };
  const put = async (data: Buffer) => {
    let chunk = data;
    if (res.bytes + chunk.length > budget) {
      chunk = chunk.subarray(0, Math.max(0, budget - res.bytes));
      res.truncated = true;
    }
    if (!chunk.length) return;
    res.bytes += chunk.length;
    if (!sink.write(chunk)) {
      o.waiting?.pause();
      try {
        await raceAbort(once(sink, 'drain'), broken);
      } finally {
        o.waiting?.resume();
      }
    }
  };
  try {
    for (;;) {
      let r: IteratorResult<Buffer | string>;
      try {
        r = await raceAbort(it.next(), deadline);
      } catch (e) {
        if (deadline.aborted) res.timedOut = true;
        else res.error = e as Error;
        break;
      }
      if (r.done) {
        // What the scrubbers held back (it was not a secret), each flushed through the ones after it.
        for (let k = 0; k < scrubbers.length && !res.truncated; k++) {
          let rest = scrubbers[k]!.flush();
          for (const later of scrubbers.slice(k + 1)) rest = later.push(rest);
          await put(rest);
        }
        break;
      }
      await put(scrub(typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : r.value));
      if (res.truncated) break;
    }
  } finally {
    if (res.truncated || res.timedOut || res.error) {
      // Stop the source: a stream is destroyed (a program behind it is killed by the collector's signal).
      if (content instanceof Readable) content.destroy();
      void it.return?.()?.catch(() => undefined);
    }
    // A marker line tells whoever opens the file that it is incomplete, and why.
    const why = res.truncated ? 'size cap reached' : res.timedOut ? 'time-out reached' : res.error ? `error: ${scrubText(res.error.message, o.secrets)}` : '';
    sink.end(why ? `\n[Cordon: file incomplete, ${why}]\n` : undefined);
  }
  return res;
}

/** Counts the zip's bytes on their way to the caller's stream. */
function counter(): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      t.bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { bytes: number };
  t.bytes = 0;
  return t;
}

/**
 * Produces the investigation package: runs every collector with its time-out and size cap (and a
 * cap on the total), streams each file into a zip written to `out`, and adds
 * CollectionSummaryReport.xlsx listing every data point. A collector that fails, times out or
 * goes over budget is recorded in the report; it never stops the package. Resolves when `out`
 * has taken the whole zip.
 */
export async function producePackage(out: Writable, opts: PackageOptions): Promise<PackageSummary> {
  const started = Date.now();
  const now = opts.now ?? (() => new Date());
  const collectors = opts.collectors ?? LINUX_COLLECTORS;
  const ceilingTime = opts.collectorTimeoutMs ?? DEFAULT_COLLECTOR_TIMEOUT_MS;
  const ceilingBytes = opts.collectorMaxBytes ?? DEFAULT_COLLECTOR_MAX_BYTES;
  const totalMax = opts.totalMaxBytes ?? DEFAULT_TOTAL_MAX_BYTES;
  const makeContext = opts.makeContext ?? ((o: Parameters<typeof deviceCollectContext>[0]) => deviceCollectContext(o, opts.platform));
  const progress = opts.progress ?? (() => undefined);
  const mtime = now();

  const zip = new ZipFile();
  const count = counter();
  // If the caller's stream fails (disk full, upload broken), stop waiting on it.
  const brokenCtl = new AbortController();
  let outError: Error | undefined;
  const written = pipeline(zip.outputStream as Readable, count, out).catch((e: unknown) => {
    outError = e instanceof Error ? e : new Error(String(e));
    brokenCtl.abort(outError);
  });

  const points: DataPoint[] = [];
  let totalLeft = totalMax;
  const secrets = await agentSecrets(opts.dataDir);

  for (const [i, c] of collectors.entries()) {
    if (opts.signal?.aborted || outError) break;
    progress(Math.floor((i / collectors.length) * 95), `Collecting ${c.folder} (${i + 1}/${collectors.length})`);
    const names = new Set<string>();
    const t0 = Date.now();
    let files = 0;
    const note = (file: string, status: DataPointStatus, code: string, message: string, bytes = 0, source = c.source) =>
      points.push({ folder: c.folder, file, source, status, errorCode: code, errorMessage: message, bytes, durationMs: Date.now() - t0 });

    if (totalLeft <= 0) {
      note('(not collected)', 'Truncated', 'TotalSizeCap', `Not collected: the package reached its total size cap of ${totalMax} bytes`);
    } else {
      const timeoutMs = Math.min(c.timeoutMs, ceilingTime);
      const maxBytes = Math.min(c.maxBytes, ceilingBytes);
      const ctl = new AbortController();
      const timer = new Deadline(timeoutMs, () => ctl.abort(new Timeout()));
      const onOuter = () => ctl.abort(opts.signal?.reason);
      opts.signal?.addEventListener('abort', onOuter, { once: true });
      brokenCtl.signal.addEventListener('abort', onOuter, { once: true });
      const ctx = makeContext({ dataDir: opts.dataDir, deadline: t0 + timeoutMs, remainingMs: () => timer.remaining(), signal: ctl.signal, now, roots: opts.roots });
      let used = 0;
      let it: AsyncIterator<CollectedFile> | undefined;
      try {
        it = c.collect(ctx)[Symbol.asyncIterator]();
        for (;;) {
          const tFile = Date.now();
          let r: IteratorResult<CollectedFile>;
          try {
            r = await raceAbort(it.next(), ctl.signal);
          } catch (e) {
            if (ctl.signal.aborted) note('(remaining files)', 'TimedOut', 'CollectorTimeout', `The collector did not finish within ${timeoutMs / 1000} s; files after this point were not collected`);
            else note('(collector)', 'Failed', errorCode(e), (e as Error).message || String(e));
            break;
          }
          if (r.done) break;
          const f = r.value;
          const base = safeName(scrubText(f.name, secrets));
          let name = base;
          for (let n = 2; names.has(name); n++) name = base.replace(/(\.[^.]*)?$/, `_${n}$1`);
          names.add(name);
          const budget = Math.min(maxBytes - used, totalLeft);
          const res = await pumpEntry(zip, `${c.folder}/${name}`, f.content, { budget, deadline: ctl.signal, broken: brokenCtl.signal, mtime, secrets, waiting: timer });
          used += res.bytes;
          totalLeft -= res.bytes;
          files++;
          const capWhich = maxBytes - used <= 0 ? `the collector's size cap of ${maxBytes} bytes` : `the package's total size cap of ${totalMax} bytes`;
          const [status, code, message]: [DataPointStatus, string, string] = res.timedOut
            ? ['TimedOut', 'CollectorTimeout', `Cut off after ${timeoutMs / 1000} s`]
            : res.truncated
              ? ['Truncated', maxBytes - used <= 0 ? 'CollectorSizeCap' : 'TotalSizeCap', `Cut at ${capWhich}`]
              : res.error
                ? ['Failed', errorCode(res.error), res.error.message]
                : [f.status ?? 'Succeeded', f.error?.code ?? '', f.error?.message ?? ''];
          points.push({ folder: c.folder, file: name, source: f.source, status, errorCode: code, errorMessage: message, bytes: res.bytes, durationMs: Date.now() - tFile });
          if (res.timedOut || res.truncated) {
            if (res.truncated) note('(remaining files)', 'Truncated', code, `Collection stopped at ${capWhich}; later files of this collector were not collected`);
            break;
          }
        }
      } catch (e) {
        note('(collector)', 'Failed', errorCode(e), (e as Error).message || String(e));
      } finally {
        timer.clear();
        opts.signal?.removeEventListener('abort', onOuter);
        brokenCtl.signal.removeEventListener('abort', onOuter);
        // An abandoned generator is asked to stop; it is not awaited (it may be stuck in a read).
        if (ctl.signal.aborted) void it?.return?.(undefined)?.catch(() => undefined);
      }
    }
    if (files === 0 && !opts.signal?.aborted && !outError) {
      // Every folder holds at least one file, so a missing folder never looks like "nothing there".
      // The collector's own row (failure, time-out, cap) becomes the row of this file.
      const last = points.at(-1);
      const own = last && last.folder === c.folder && last.file.startsWith('(') ? last : undefined;
      const text = `Nothing was collected for ${c.folder}: ${own?.errorMessage || 'the collector produced no files'}${own?.errorCode ? ` (${own.errorCode})` : ''}\nSource: ${c.source}\n`;
      zip.addBuffer(Buffer.from(scrubText(text, secrets)), `${c.folder}/NotCollected.txt`, { mtime, mode: 0o100644 });
      if (own) {
        own.file = 'NotCollected.txt';
        own.bytes = Buffer.byteLength(text);
      } else {
        points.push({ folder: c.folder, file: 'NotCollected.txt', source: c.source, status: 'Failed', errorCode: 'NoFiles', errorMessage: 'the collector produced no files', bytes: Buffer.byteLength(text), durationMs: Date.now() - t0 });
      }
    }
  }

  if (opts.signal?.aborted || outError) {
    (zip.outputStream as Readable).destroy();
    await written;
    throw outError ?? (opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('The collection was cancelled'));
  }

  progress(96, 'Writing the summary report');
  const durationMs = Date.now() - started;
  // The report quotes sources and error messages; they are scrubbed like every file.
  for (const p of points) {
    p.source = scrubText(p.source, secrets);
    p.errorMessage = scrubText(p.errorMessage, secrets);
    p.file = scrubText(p.file, secrets);
  }
  const xlsx = await summaryWorkbook(points, {
    collectedAt: mtime.toISOString(),
    hostname: hostname(),
    durationMs,
    collectorTimeoutMs: ceilingTime,
    collectorMaxBytes: ceilingBytes,
    totalMaxBytes: totalMax,
  });
  zip.addBuffer(xlsx, SUMMARY_FILE, { mtime, mode: 0o100644 });
  zip.end();
  await written;
  if (outError) throw outError;
  progress(100, 'Package complete');
  const by = (s: DataPointStatus) => points.filter((p) => p.status === s).length;
  return {
    collectors: collectors.length,
    dataPoints: points.length,
    succeeded: by('Succeeded'),
    failed: by('Failed'),
    timedOut: by('TimedOut'),
    truncated: by('Truncated'),
    notPresent: by('NotPresent'),
    bytes: points.reduce((a, p) => a + p.bytes, 0),
    zipBytes: count.bytes,
    durationMs: Date.now() - started,
    points,
  };
}
