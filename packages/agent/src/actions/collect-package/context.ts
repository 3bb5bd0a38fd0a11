import type { Readable } from 'node:stream';
import { currentPlatform, type Platform } from '../../platform/index.js';
import type { CollectContext, WalkRoots } from './types.js';

/**
 * The real context for one collector, on the device's platform: its deadline bounds every
 * program it runs and its signal stops them, and its files go through the platform's safe file
 * access (a fresh instance per collector, so cached directory resolutions never outlive the
 * collector that made them).
 */
export function deviceCollectContext(opts: { dataDir: string; deadline: number; remainingMs?: () => number; signal: AbortSignal; now?: () => Date; roots?: WalkRoots }, platform: Platform = currentPlatform()): CollectContext {
  const remaining = () => Math.max(1, opts.remainingMs ? opts.remainingMs() : opts.deadline - Date.now());
  return {
    ...platform.files(),
    signal: opts.signal,
    dataDir: opts.dataDir,
    roots: opts.roots,
    now: opts.now ?? (() => new Date()),
    run: (file, args, o = {}) => platform.processes.run(file, args, { timeoutMs: Math.min(o.timeoutMs ?? remaining(), remaining()), signal: opts.signal }),
    stream: (file, args) => platform.processes.stream(file, args, opts.signal),
  };
}

/** Drains a stream into a string (for tests and small outputs). */
export async function streamToString(s: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8');
}
