import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FileOutcome, FileTask } from './file-scan.js';
import type { ScanWorkerData } from './scan-worker.js';

/** Workers that may die (a crash in native code, out of memory) and be replaced before the pool gives up. */
const RESPAWNS_PER_WORKER = 3;

interface Slot {
  worker: Worker;
  pending: Map<number, { task: FileTask; resolve(o: FileOutcome): void }>;
}

/**
 * The scan's worker threads (scan-worker.ts): each holds its own copy of the rules and scans the files
 * it is given one after the other; the main thread only walks, paces and judges. A worker that dies
 * is replaced and the files it held are reported as skipped (Error) with why; when workers keep
 * dying, `scan` rejects and the scan fails with the reason.
 */
export class ScanPool {
  readonly #slots: Slot[] = [];
  #nextId = 1;
  #respawns: number;
  #closed = false;
  #broken: Error | null = null;

  private constructor(
    private readonly size: number,
    private readonly data: ScanWorkerData,
    private readonly module: URL | undefined,
  ) {
    this.#respawns = size * RESPAWNS_PER_WORKER;
  }

  /**
   * Starts `size` workers and waits until each has loaded the rules (a worker that cannot start
   * throws here). `module` is the worker's code when not the one beside this module (a bench that
   * runs the sources but measures the bundled worker the agent runs).
   */
  static async start(size: number, data: ScanWorkerData, module?: URL): Promise<ScanPool> {
    const pool = new ScanPool(size, data, module);
    try {
      await Promise.all(Array.from({ length: size }, () => pool.#spawn()));
    } catch (e) {
      await pool.close();
      throw new Error(`The scan's worker threads did not start: ${(e as Error).message}`);
    }
    return pool;
  }

  /** Files the pool takes at once: eight per worker, so a worker does not wait for the main thread between small files. */
  get capacity(): number {
    return this.size * 8;
  }

  scan(path: string, readVia?: string): Promise<FileOutcome> {
    if (this.#broken || this.#slots.length === 0) return Promise.reject(this.#broken ?? new Error('Scanning stopped: no worker thread is left'));
    const slot = this.#slots.reduce((a, b) => (b.pending.size < a.pending.size ? b : a));
    const task: FileTask = { id: this.#nextId++, path, ...(readVia ? { readVia } : {}) };
    return new Promise((resolve) => {
      slot.pending.set(task.id, { task, resolve });
      slot.worker.postMessage(task);
    });
  }

  /** Stops every worker at once (a file being scanned is abandoned). */
  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map((s) => s.worker.terminate()));
  }

  /** Starts a worker and takes it into the pool at once (files posted before it is ready wait in its port); resolves once it has loaded the rules. */
  #spawn(): Promise<void> {
    const worker = startWorker(this.data, this.module);
    const slot: Slot = { worker, pending: new Map() };
    this.#slots.push(slot);
    let failure: Error | null = null;
    return new Promise((resolve, reject) => {
      worker.on('message', (m: FileOutcome | 'ready') => {
        if (m === 'ready') return resolve();
        const p = slot.pending.get(m.id);
        slot.pending.delete(m.id);
        p?.resolve(m);
      });
      worker.on('error', (e) => (failure = e));
      worker.on('exit', (code) => {
        const why = failure?.message ?? `exit code ${code}`;
        reject(new Error(why));
        this.#slots.splice(this.#slots.indexOf(slot), 1);
        if (this.#closed) return;
        for (const { task, resolve: done } of slot.pending.values()) done({ id: task.id, kind: 'skipped', skipped: { path: task.path, reason: 'Error', detail: `the scan worker stopped (${why})` } });
        if (this.#respawns-- > 0) this.#spawn().catch(() => undefined);
        else this.#broken ??= new Error(`Scanning stopped: its worker threads kept failing (${why})`);
      });
    });
  }
}

/**
 * A worker running scan-worker: the CLI bundle's plain JavaScript beside this module when there is
 * one, else (run from the sources, under tsx or vitest) the TypeScript through tsx's loader, which a
 * worker does not inherit from the thread that starts it.
 */
function startWorker(workerData: ScanWorkerData, module: URL | undefined): Worker {
  const bundled = module ?? new URL('./scan-worker.mjs', import.meta.url);
  if (existsSync(bundled)) return new Worker(bundled, { workerData });
  const entry = new URL('./scan-worker.ts', import.meta.url).href;
  return new Worker(`import(${JSON.stringify(tsxApi())}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}); });`, { eval: true, workerData });
}

let tsxApiUrl: string | undefined;
function tsxApi(): string {
  if (!tsxApiUrl) {
    const pkg = createRequire(import.meta.url).resolve('tsx/package.json');
    const api = (JSON.parse(readFileSync(pkg, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports['./esm/api']!.import.default;
    tsxApiUrl = pathToFileURL(join(dirname(pkg), api)).href;
  }
  return tsxApiUrl;
}
