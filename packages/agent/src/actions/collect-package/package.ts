import { once } from 'node:events';
import { hostname } from 'node:os';
import { PassThrough, Readable, Transform, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ZipFile } from 'yazl';
import { LINUX_COLLECTORS } from './collectors/index.js';
import { linuxCollectContext } from './context.js';
import { safeName } from './format.js';
import { SUMMARY_FILE, summaryWorkbook } from './summary.js';
import type { CollectContext, CollectedFile, Collector, DataPoint, DataPointStatus, FileContent } from './types.js';

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
  /** Seam for tests: the context each collector gets. */
  makeContext?(o: { dataDir: string; deadline: number; signal: AbortSignal; now: () => Date }): CollectContext;
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

interface EntryResult {
  bytes: number;
  truncated: boolean;
  timedOut: boolean;
  error?: Error;
}

/**
 * Streams one file into the zip: at most `budget` bytes, stopping when `deadline` aborts, and
 * waiting for the zip to take each slice (so memory holds one slice, not the file).
 */
async function pumpEntry(zip: ZipFile, path: string, content: FileContent, budget: number, deadline: AbortSignal, broken: AbortSignal, mtime: Date): Promise<EntryResult> {
  const sink = new PassThrough();
  zip.addReadStream(sink, path, { mtime, mode: 0o100644 });
  const it = asIterable(content)[Symbol.asyncIterator]();
  const res: EntryResult = { bytes: 0, truncated: false, timedOut: false };
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
      if (r.done) break;
      let chunk = typeof r.value === 'string' ? Buffer.from(r.value, 'utf8') : r.value;
      if (res.bytes + chunk.length > budget) {
        chunk = chunk.subarray(0, Math.max(0, budget - res.bytes));
        res.truncated = true;
      }
      if (chunk.length) {
        res.bytes += chunk.length;
        if (!sink.write(chunk)) await raceAbort(once(sink, 'drain'), broken);
      }
      if (res.truncated) break;
    }
  } finally {
    if (res.truncated || res.timedOut || res.error) {
      // Stop the source: a stream is destroyed (a program behind it is killed by the collector's signal).
      if (content instanceof Readable) content.destroy();
      void it.return?.()?.catch(() => undefined);
    }
    // A marker line tells whoever opens the file that it is incomplete, and why.
    const why = res.truncated ? 'size cap reached' : res.timedOut ? 'time-out reached' : res.error ? `error: ${res.error.message}` : '';
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
  const makeContext = opts.makeContext ?? linuxCollectContext;
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
      const timer = setTimeout(() => ctl.abort(new Timeout()), timeoutMs);
      const onOuter = () => ctl.abort(opts.signal?.reason);
      opts.signal?.addEventListener('abort', onOuter, { once: true });
      brokenCtl.signal.addEventListener('abort', onOuter, { once: true });
      const ctx = makeContext({ dataDir: opts.dataDir, deadline: t0 + timeoutMs, signal: ctl.signal, now });
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
          let name = safeName(f.name);
          for (let n = 2; names.has(name); n++) name = safeName(f.name).replace(/(\.[^.]*)?$/, `_${n}$1`);
          names.add(name);
          const budget = Math.min(maxBytes - used, totalLeft);
          const res = await pumpEntry(zip, `${c.folder}/${name}`, f.content, budget, ctl.signal, brokenCtl.signal, mtime);
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
        clearTimeout(timer);
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
      zip.addBuffer(Buffer.from(text), `${c.folder}/NotCollected.txt`, { mtime, mode: 0o100644 });
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
