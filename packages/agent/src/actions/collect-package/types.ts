import type { Readable } from 'node:stream';
import type { Stats } from 'node:fs';
import type { ExecResult } from '../../platform/linux/exec.js';

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
  /** Defaults to Succeeded; a collector says NotPresent or Failed (with `error`) itself. */
  status?: 'Succeeded' | 'NotPresent' | 'Failed';
  error?: { code: string; message: string };
}

/** What a collector may use: exec with argument arrays, absolute-path file access, the agent's data dir. */
export interface CollectContext {
  /** Aborted when the collector's time budget ends. */
  signal: AbortSignal;
  /** Runs a program with an argument array (never a shell); bounded by the collector's remaining time. */
  run(file: string, args: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Streams a program's stdout (for outputs too large to buffer); killed when the collector's time ends. */
  stream(file: string, args: string[]): Readable;
  /** A file's bytes, or null when it does not exist. Paths must be absolute. */
  readFile(path: string): Promise<Buffer | null>;
  /** A file's text, or null when it does not exist. Paths must be absolute. */
  readText(path: string): Promise<string | null>;
  /** Up to `length` bytes at `offset` (sparse files such as lastlog), or null when missing. */
  readRange(path: string, offset: number, length: number): Promise<Buffer | null>;
  /** A read stream of a file (for large files). Paths must be absolute. */
  openFile(path: string): Readable;
  /** Entries of a directory (names), or null when it does not exist. */
  readDir(path: string): Promise<string[] | null>;
  /** lstat, or null when the path does not exist. */
  lstat(path: string): Promise<Stats | null>;
  /** stat (following links), or null when the path does not exist. */
  stat(path: string): Promise<Stats | null>;
  /** Where a symbolic link points, or null. */
  readlink(path: string): Promise<string | null>;
  /** SHA-256 (hex) of a file's bytes, streamed. */
  sha256(path: string): Promise<string>;
  /** The agent's data directory (enrollment.json, agent.json, journal/). */
  dataDir: string;
  now(): Date;
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
