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
  /**
   * Defaults to Succeeded; a collector says NotPresent or Failed (with `error`) itself, or
   * Truncated when it read only part of its source (a log's tail), with `error` saying why.
   */
  status?: 'Succeeded' | 'NotPresent' | 'Failed' | 'Truncated';
  error?: { code: string; message: string };
}

/** Where a file stream starts and how much of it to read; `trustLinks` as for {@link CollectContext.stat}. */
export interface OpenOptions {
  start?: number;
  length?: number;
  trustLinks?: boolean;
}

/**
 * What a collector may use: exec with argument arrays, absolute-path file access, the agent's data dir.
 *
 * File access never follows a symbolic link a user could have planted (only links root owns in a
 * directory only root can change, such as /proc/self or /etc/resolv.conf), reads regular files
 * only (never FIFOs, sockets or devices), and in a directory a user controls reads only files
 * that user or root owns. A refused file throws an error with code UNSAFE_PATH; a refused
 * directory reads as missing (null).
 */
export interface CollectContext {
  /** Aborted when the collector's time budget ends. */
  signal: AbortSignal;
  /** Runs a program with an argument array (never a shell); bounded by the collector's remaining time. */
  run(file: string, args: string[], opts?: { timeoutMs?: number }): Promise<ExecResult>;
  /** Streams a program's stdout (for outputs too large to buffer); killed when the collector's time ends. */
  stream(file: string, args: string[]): Readable;
  /** A file's bytes (at most 64 MB), or null when it does not exist. Paths must be absolute. */
  readFile(path: string): Promise<Buffer | null>;
  /** A file's text, or null when it does not exist. Paths must be absolute. */
  readText(path: string): Promise<string | null>;
  /** Up to `length` bytes at `offset` (sparse files such as lastlog), or null when missing. */
  readRange(path: string, offset: number, length: number): Promise<Buffer | null>;
  /** A read stream of a regular file (for large files), from `start` and at most `length` bytes. Paths must be absolute. */
  openFile(path: string, opts?: OpenOptions): Readable;
  /**
   * Entries of a directory (names), or null when it does not exist or is reached through a link a
   * user could have planted; with `noFollow`, through any link at all (tree walks).
   */
  readDir(path: string, opts?: { noFollow?: boolean }): Promise<string[] | null>;
  /** lstat, or null when the path does not exist (or its directory is reached through an untrusted link). */
  lstat(path: string): Promise<Stats | null>;
  /**
   * stat following trusted links only: an untrusted link is reported as the link itself (lstat).
   * `trustLinks` follows every link, for kernel magic links such as /proc/<pid>/exe only.
   */
  stat(path: string, opts?: { trustLinks?: boolean }): Promise<Stats | null>;
  /** The path with trusted links resolved, or null when missing or reached through an untrusted link. */
  realpath(path: string): Promise<string | null>;
  /** Where a symbolic link points, or null. */
  readlink(path: string): Promise<string | null>;
  /** SHA-256 (hex) of a file's bytes, streamed. */
  sha256(path: string, opts?: { trustLinks?: boolean }): Promise<string>;
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
