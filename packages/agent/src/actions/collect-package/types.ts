import type { Readable } from 'node:stream';
import type { ExecResult, SafeFiles } from '../../platform/types.js';

export type { OpenOptions } from '../../platform/types.js';

/** How one data point of the package turned out; the words the summary report uses. */
export type DataPointStatus = 'Succeeded' | 'Failed' | 'TimedOut' | 'Truncated' | 'NotPresent';

/** Bytes of a file in the package: small ones in memory, large ones as a stream (memory stays flat). */
export type FileContent = string | Buffer | Readable | AsyncIterable<Buffer | string>;

/** One file a collector puts into its folder. */
export interface CollectedFile {
  /** File name inside the collector's folder, e.g. `Processes.csv`. */
  name: string;
  /** The command or file the data came from, for the summary report. */
  source: string;
  content: FileContent;
  /**
   * Defaults to Succeeded; a collector says NotPresent or Failed (with `error`) itself, or
   * Truncated when it read only part of its source (a log's tail), with `error` saying why.
   */
  status?: 'Succeeded' | 'NotPresent' | 'Failed' | 'Truncated';
  error?: { code: string; message: string };
}

/** Directories the file-listing collectors walk instead of their usual ones (the agent's `package…Dirs` settings). */
export interface WalkRoots {
  /** Temp directories to list (replaces the system's and every user's). */
  temp?: readonly string[];
  /** Where to look for recently changed executables. */
  programs?: readonly string[];
}

/**
 * What a collector may use: exec with argument arrays, the platform's safe file access (absolute
 * paths; never a link a user could have planted, never a FIFO, socket or device, see
 * {@link SafeFiles}), the agent's data dir.
 */
export interface CollectContext extends SafeFiles {
  /** Aborted when the collector's time budget ends. */
  signal: AbortSignal;
  /** Runs a program with an argument array (never a shell); bounded by the collector's remaining time. */
  run(file: string, args: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Streams a program's stdout (for outputs too large to buffer); killed when the collector's time ends. */
  stream(file: string, args: string[]): Readable;
  /** The agent's data directory (enrollment.json, agent.json, journal/). */
  dataDir: string;
  now(): Date;
  /** Set when the agent is told to walk other directories than the usual ones. */
  roots?: WalkRoots;
}

/**
 * A collector is data plus code: which folder of the package it fills, where its data comes from,
 * its budgets, and a generator that yields files one at a time (so the package streams).
 */
export interface Collector {
  folder: string;
  name: string;
  /** The commands and files it reads, for people reading the code and the report. */
  source: string;
  timeoutMs: number;
  maxBytes: number;
  collect(ctx: CollectContext): AsyncIterable<CollectedFile>;
}

/** One row of the summary report. */
export interface DataPoint {
  folder: string;
  file: string;
  source: string;
  status: DataPointStatus;
  errorCode: string;
  errorMessage: string;
  bytes: number;
  durationMs: number;
}

export const NOT_PRESENT = 'not present on this device';
