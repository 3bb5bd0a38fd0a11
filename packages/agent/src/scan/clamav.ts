/*
 * ClamAV as an extra scan engine, where it is installed with a database.
 *
 * Two ways in:
 * - clamd (clamav-daemon), over its UNIX socket with INSTREAM: the agent streams the bytes it
 *   reads itself (through SafeFiles), so clamd, which runs as user clamav, needs no read access to
 *   root-only files, and a path swapped for a link after the walk is never followed. FILDES would
 *   avoid the copy but needs SCM_RIGHTS, which Node's net module cannot send.
 * - clamscan, once per batch (each run loads the whole database again, so batches should be large),
 *   with its size limits raised to the scanner's own: by default it silently skips files over 100 MB.
 *
 * Anything ClamAV did not scan (missing, unreadable, over a limit) is a problem, never a silent skip.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import type { Processes, SafeFiles } from '../platform/types.js';

/** Where ClamAV lives on the device; every field has Debian's default. */
export interface ClamAvProbeOptions {
  /** clamscan's database directory (default /var/lib/clamav, or the DatabaseDirectory of clamd.conf). */
  databaseDir?: string;
  /** clamd's UNIX socket (default: LocalSocket of clamd.conf, else /run/clamav/clamd.ctl). */
  clamdSocket?: string;
  /** clamd's configuration, read for its socket and size limits (default /etc/clamav/clamd.conf). */
  clamdConfig?: string;
}

export type ClamAvAvailable =
  | {
      engine: 'clamd';
      socket: string;
      version: string;
      /** The largest input clamd scans whole (its StreamMaxLength, MaxFileSize and MaxScanSize). */
      maxStreamBytes: number;
      /** Where clamscan finds a database for inputs larger than that; null: none (they are problems). */
      fallbackDatabaseDir: string | null;
    }
  | { engine: 'clamscan'; databaseDir: string; version: string };

export type ClamAvProbe = ClamAvAvailable | { unavailable: string };

/** What a scan found: path -> signature names, and path -> why ClamAV did not scan it (whole). */
export interface ClamAvScan {
  found: Map<string, string[]>;
  problems: Map<string, string>;
}

const DEFAULT_CONFIG = '/etc/clamav/clamd.conf';
const DEFAULT_SOCKET = '/run/clamav/clamd.ctl';
const DEFAULT_DATABASE_DIR = '/var/lib/clamav';
/** libclamav scans no file of 2 GiB or more, whatever the limit says. */
export const CLAMAV_MAX_FILE_BYTES = 2 ** 31 - 1;
/** ClamAV's defaults for the limits clamd.conf may leave out. */
const CLAMD_DEFAULT_LIMITS = { StreamMaxLength: 100 * 2 ** 20, MaxFileSize: 100 * 2 ** 20, MaxScanSize: 400 * 2 ** 20 };
/** Files that hold signatures (ignore lists, false-positive lists and .info files alone detect nothing). */
const SIGNATURE_FILE = /\.(cvd|cld|cud|hdb|hsb|hdu|hsu|mdb|msb|mdu|msu|ndb|ndu|ldb|ldu|idb|cdb|pdb|gdb|wdb|cbc|imp|yar|yara)$/i;
/** The name ClamAV gives a file it stopped scanning at a limit (with AlertExceedsMax): not a detection. */
const LIMIT_ALERT = 'Heuristics.Limits.Exceeded';

/** Parses clamd.conf's `Key value` lines (comments and blank lines ignored; the last one wins). */
export function parseClamdConf(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s*([A-Za-z][A-Za-z0-9]*)\s+(.*?)\s*$/.exec(line);
    if (m && !line.trimStart().startsWith('#')) out.set(m[1]!, m[2]!);
  }
  return out;
}

/** A clamd.conf SIZE ("25M", "512K", "1G", "1048576") in bytes, or null when it is not one. */
export function parseClamSize(value: string): number | null {
  const m = /^(\d+)\s*([kKmMgG]?)$/.exec(value.trim());
  if (!m) return null;
  const unit = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Number(m[1]) * unit;
}

/** Whether a directory holds at least one signature database. */
async function hasDatabase(dir: string): Promise<boolean> {
  const names = await readdir(dir).catch(() => [] as string[]);
  return names.some((n) => SIGNATURE_FILE.test(n));
}

/**
 * What ClamAV the device offers: a clamd answering on its socket (it loaded a database, or it
 * would not have started), else clamscan with a database directory that holds signatures.
 */
export async function probeClamAv(opts: ClamAvProbeOptions, processes: Processes): Promise<ClamAvProbe> {
  const confPath = opts.clamdConfig ?? DEFAULT_CONFIG;
  const conf = parseClamdConf((await readFile(confPath, 'utf8').catch(() => null)) ?? '');
  const socket = opts.clamdSocket ?? conf.get('LocalSocket') ?? DEFAULT_SOCKET;
  const databaseDir = opts.databaseDir ?? conf.get('DatabaseDirectory') ?? DEFAULT_DATABASE_DIR;
  const withDatabase = (await hasDatabase(databaseDir)) ? databaseDir : null;
  const clamscan = withDatabase ? await processes.run('clamscan', ['--version'], { timeoutMs: 10_000 }) : null;
  const clamscanVersion = clamscan?.code === 0 ? clamscan.stdout.trim() : null;

  const clamdVersion = await clamdCommand(socket, 'VERSION', 3000).catch(() => null);
  if (clamdVersion) {
    // The conf's limits are clamd's only when the conf is the one that clamd was started with.
    const own = conf.get('LocalSocket') === socket;
    const limit = (key: keyof typeof CLAMD_DEFAULT_LIMITS) => (own ? parseClamSize(conf.get(key) ?? '') : null) ?? CLAMD_DEFAULT_LIMITS[key];
    const maxStreamBytes = Math.min(limit('StreamMaxLength'), limit('MaxFileSize'), limit('MaxScanSize'), CLAMAV_MAX_FILE_BYTES);
    return { engine: 'clamd', socket, version: clamdVersion, maxStreamBytes, fallbackDatabaseDir: clamscanVersion ? withDatabase : null };
  }
  if (!withDatabase) return { unavailable: `no ClamAV database in ${databaseDir} (no .cvd, .cld, .hsb, .ndb, ... file) and no clamd answering at ${socket}` };
  if (clamscan?.code === 127) return { unavailable: 'clamscan is not installed and no clamd answers at ' + socket };
  if (!clamscanVersion) return { unavailable: `clamscan --version failed: ${firstLine(clamscan?.stderr ?? '')}` };
  return { engine: 'clamscan', databaseDir: withDatabase, version: clamscanVersion };
}

export interface ClamAvEngineOptions {
  /** The scanner's own size limit: ClamAV scans files up to this size (and 2 GiB at most). */
  maxFileBytes: number;
  /** How the agent reads files (for clamd, which is sent their bytes). */
  files: Pick<SafeFiles, 'openFile'>;
  /** Files streamed to clamd at once (default 2). */
  concurrency?: number;
  /** Paths per clamscan run (default 10,000: each run loads the database again). */
  batchSize?: number;
}

/** A clamscan run's outcome (a seam for unit tests). */
export type RunClamscan = (args: string[], opts: { signal?: AbortSignal; input?: Buffer }) => Promise<{ code: number; stdout: string; stderr: string }>;

/** Scans files and buffers with the ClamAV that {@link probeClamAv} found. */
export class ClamAvEngine {
  private readonly limit: number;

  constructor(
    readonly available: ClamAvAvailable,
    private readonly opts: ClamAvEngineOptions,
    // Not Processes.run: it cannot be cancelled, and a cancelled scan must stop within a second.
    private readonly runClamscan: RunClamscan = execClamscan,
  ) {
    this.limit = Math.min(opts.maxFileBytes, CLAMAV_MAX_FILE_BYTES);
  }

  /** Scans files by path; a file ClamAV could not scan is a problem, and never fails the others. */
  async scanFiles(paths: string[], signal?: AbortSignal): Promise<ClamAvScan> {
    const result: ClamAvScan = { found: new Map(), problems: new Map() };
    const unique = [...new Set(paths)];
    if (this.available.engine === 'clamscan') {
      await this.clamscanFiles(this.available.databaseDir, unique, result, signal);
      return result;
    }
    const tooLarge = await this.clamdFiles(this.available, unique, result, signal);
    if (tooLarge.length === 0) return result;
    if (this.available.fallbackDatabaseDir) await this.clamscanFiles(this.available.fallbackDatabaseDir, tooLarge, result, signal);
    else for (const p of tooLarge) result.problems.set(p, `larger than clamd accepts (${this.available.maxStreamBytes} bytes) and no database for clamscan`);
    return result;
  }

  /** Scans bytes (an archive member); `name` only labels errors. Throws when ClamAV could not scan them whole. */
  async scanBuffer(bytes: Buffer, name: string, signal?: AbortSignal): Promise<string[]> {
    if (bytes.length > this.limit) throw new Error(`${name}: larger than the ClamAV limit (${this.limit} bytes)`);
    const a = this.available;
    let names: string[] | 'tooLarge' = 'tooLarge';
    if (a.engine === 'clamd' && bytes.length <= a.maxStreamBytes) names = await instream(a.socket, frames(bytes), a.maxStreamBytes, signal);
    if (names === 'tooLarge') {
      // clamscan from stdin: no copy on disk, and its limits are the scanner's.
      const db = a.engine === 'clamd' ? a.fallbackDatabaseDir : a.databaseDir;
      if (!db) throw new Error(`${name}: larger than clamd accepts and no database for clamscan`);
      const out = await this.runClamscan([...this.clamscanArgs(db), '-'], { signal, input: bytes });
      if (out.code !== 0 && out.code !== 1) throw new Error(`clamscan failed: ${firstLine(out.stderr) || firstLine(out.stdout) || `exit code ${out.code}`}`);
      const lines = parseClamscanOutput(out.stdout, ['stdin']).get('stdin') ?? [];
      names = lines.filter((l) => l.endsWith(' FOUND')).map((l) => l.slice(0, -' FOUND'.length));
    }
    const limited = names.find((n) => n.startsWith(LIMIT_ALERT));
    if (limited) throw new Error(`${name}: ClamAV did not scan it whole (${limited})`);
    return names;
  }

  private clamscanArgs(databaseDir: string): string[] {
    return [
      '-d',
      databaseDir,
      '--no-summary',
      '--stdout',
      // Links are never followed: a file swapped for one after the walk is not read through it.
      '--follow-file-symlinks=0',
      '--follow-dir-symlinks=0',
      `--max-filesize=${this.limit}`,
      // An archive counts once for itself and once for what it holds.
      `--max-scansize=${2 * this.limit}`,
      `--pcre-max-filesize=${this.limit}`,
      // What still exceeds a limit is named Heuristics.Limits.Exceeded.* instead of passing as clean.
      '--alert-exceeds-max=yes',
    ];
  }

  /**
   * One clamscan run per batch. Without --infected every path gets a line (FOUND, OK, or why it was
   * not scanned), so a path with none is a problem too. --file-list reads lines and drops a trailing
   * CR: paths with a newline or CR are given as arguments instead, in a run of their own (clamscan
   * ignores arguments when it has a file list).
   */
  private async clamscanFiles(databaseDir: string, paths: string[], result: ClamAvScan, signal?: AbortSignal): Promise<void> {
    const awkward = paths.filter((p) => /[\r\n]/.test(p));
    const listable = paths.filter((p) => !/[\r\n]/.test(p));
    const batchSize = this.opts.batchSize ?? 10_000;
    for (let i = 0; i < listable.length; i += batchSize) {
      const batch = listable.slice(i, i + batchSize);
      const { args, cleanup } = await fileListArgs(batch);
      try {
        await this.clamscanBatch([...this.clamscanArgs(databaseDir), ...args], batch, result, signal);
      } finally {
        await cleanup();
      }
    }
    if (awkward.length > 0) await this.clamscanBatch([...this.clamscanArgs(databaseDir), '--', ...awkward], awkward, result, signal);
  }

  private async clamscanBatch(args: string[], batch: string[], result: ClamAvScan, signal?: AbortSignal): Promise<void> {
    const out = await this.runClamscan(args, { signal });
    const lines = parseClamscanOutput(out.stdout, batch);
    // Why a file was not scanned goes to stderr ("<path>: No such file or directory", "WARNING: <path>: Not supported file type").
    const errors = parseClamscanOutput(out.stderr, batch);
    const warnings = parseClamscanOutput(out.stderr, batch, 'WARNING: ');
    // Exit code 2 is also a missing file; only a run that said nothing about any path failed as a whole.
    if (out.code !== 0 && out.code !== 1 && lines.size === 0 && errors.size === 0 && warnings.size === 0) {
      throw new Error(`clamscan failed: ${firstLine(out.stderr) || firstLine(out.stdout) || `exit code ${out.code}`}`);
    }
    for (const path of batch) {
      const said = lines.get(path) ?? [];
      const names = said.filter((l) => l.endsWith(' FOUND')).map((l) => l.slice(0, -' FOUND'.length));
      recordNames(result, path, names);
      if (names.length > 0 || said.includes('OK') || said.includes('Empty file')) continue;
      const why = said[0] ?? errors.get(path)?.[0] ?? warnings.get(path)?.[0];
      result.problems.set(path, why ? `ClamAV: ${why}` : 'ClamAV did not scan it');
    }
  }

  /** Streams each file to clamd; answers the files larger than clamd accepts. */
  private async clamdFiles(a: Extract<ClamAvAvailable, { engine: 'clamd' }>, paths: string[], result: ClamAvScan, signal?: AbortSignal): Promise<string[]> {
    const tooLarge: string[] = [];
    let next = 0;
    let failed = false;
    const worker = async () => {
      while (next < paths.length && !failed) {
        signal?.throwIfAborted();
        const path = paths[next++]!;
        const source = this.opts.files.openFile(path);
        let names: string[] | 'tooLarge';
        try {
          names = await instream(a.socket, readChunks(source), Math.min(a.maxStreamBytes, this.limit), signal);
        } catch (err) {
          // clamd down or cancelled: the other workers stop too.
          failed ||= !(err instanceof FileReadError);
          if (failed) throw err;
          result.problems.set(path, (err as Error).message);
          continue;
        } finally {
          source.destroy();
        }
        if (names === 'tooLarge') tooLarge.push(path);
        else recordNames(result, path, names);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.opts.concurrency ?? 2) }, worker));
    // clamscan takes these; what is over the scanner's limit too it names Heuristics.Limits.Exceeded (a problem).
    return tooLarge;
  }
}

function recordNames(result: ClamAvScan, path: string, names: string[]): void {
  const limited = names.filter((n) => n.startsWith(LIMIT_ALERT));
  const found = names.filter((n) => !n.startsWith(LIMIT_ALERT));
  if (found.length > 0) result.found.set(path, [...(result.found.get(path) ?? []), ...found]);
  if (limited.length > 0) result.problems.set(path, `ClamAV did not scan it whole (${limited.join(', ')})`);
}

/**
 * clamscan's `<path>: <message>` lines, per requested path. Paths may hold ': ' and newlines, so
 * lines are matched against the requested paths (the longest that fits) rather than split; ClamAV's
 * messages and signature names never hold ': '.
 */
export function parseClamscanOutput(text: string, paths: readonly string[], prefix = ''): Map<string, string[]> {
  const wanted = new Set(paths);
  const multiline = paths.filter((p) => p.includes('\n')).sort((a, b) => b.length - a.length);
  const out = new Map<string, string[]>();
  const add = (path: string, message: string) => out.set(path, [...(out.get(path) ?? []), message]);
  let at = 0;
  while (at < text.length) {
    const eol = text.indexOf('\n', at);
    const end = eol === -1 ? text.length : eol;
    let next = end + 1;
    if (text.startsWith(prefix, at)) {
      const start = at + prefix.length;
      const long = multiline.find((p) => text.startsWith(`${p}: `, start));
      if (long) {
        const lineEnd = text.indexOf('\n', start + long.length);
        add(long, text.slice(start + long.length + 2, lineEnd === -1 ? text.length : lineEnd));
        next = lineEnd === -1 ? text.length : lineEnd + 1;
      } else {
        const line = text.slice(start, end);
        for (let cut = line.lastIndexOf(': '); cut > 0; cut = line.lastIndexOf(': ', cut - 1)) {
          if (wanted.has(line.slice(0, cut))) {
            add(line.slice(0, cut), line.slice(cut + 2));
            break;
          }
        }
      }
    }
    at = next;
  }
  return out;
}

/** A --file-list in a private temporary directory (paths may be anyone's business). */
async function fileListArgs(paths: string[]): Promise<{ args: string[]; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'cordon-clamscan-'));
  const list = join(dir, 'files');
  await writeFile(list, paths.map((p) => `${p}\n`).join(''), { mode: 0o600 });
  return { args: [`--file-list=${list}`], cleanup: () => rm(dir, { recursive: true, force: true }) };
}

function execClamscan(args: string[], opts: { signal?: AbortSignal; input?: Buffer }): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile('clamscan', args, { maxBuffer: 256 * 2 ** 20, signal: opts.signal, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (!err) return resolve({ code: 0, stdout, stderr });
      const e = err as NodeJS.ErrnoException & { code?: unknown };
      if (e.name === 'AbortError') return reject(e);
      if (e.code === 'ENOENT') return resolve({ code: 127, stdout: '', stderr: 'clamscan: not found' });
      if (typeof e.code !== 'number') return reject(e);
      resolve({ code: e.code, stdout, stderr });
    });
    // clamscan may exit before it read all of stdin (an error): that is its answer, not ours.
    child.stdin?.on('error', () => {});
    if (opts.input) child.stdin?.end(opts.input);
    else child.stdin?.end();
  });
}

/** The agent could not read a file it was to stream: a problem of that file, not of clamd. */
class FileReadError extends Error {}

/** Connects to clamd's socket, or throws with the socket's name. */
function connectClamd(socketPath: string, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`clamd at ${socketPath} did not accept a connection within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.once('connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`clamd at ${socketPath}: ${err.message}`));
    });
  });
}

/**
 * Collects clamd's NUL-terminated reply (z-commands end replies with NUL), with the socket's error
 * if the connection broke first.
 */
function readReply(socket: Socket): Promise<{ text: string; error: NodeJS.ErrnoException | null }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: NodeJS.ErrnoException | null = null;
    const finish = () => resolve({ text: Buffer.concat(chunks).toString('utf8').replace(/\0[\s\S]*$/, '').trim(), error });
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      if (d.includes(0)) finish();
    });
    socket.once('error', (err) => (error = err));
    socket.once('end', finish);
    socket.once('close', finish);
  });
}

/** Sends one z-command (VERSION, PING) and answers clamd's reply. */
async function clamdCommand(socketPath: string, command: string, timeoutMs: number): Promise<string> {
  const socket = await connectClamd(socketPath, timeoutMs);
  try {
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error(`clamd at ${socketPath} did not answer ${command}`)));
    const reply = readReply(socket);
    socket.write(`z${command}\0`);
    const { text, error } = await reply;
    if (!text) throw new Error(`clamd at ${socketPath} answered ${command} with nothing${error ? `: ${error.message}` : ''}`);
    return text;
  } finally {
    socket.destroy();
  }
}

/**
 * INSTREAM: the bytes go as chunks, each prefixed with its length (4 bytes, network order), ended
 * by a zero length; clamd answers `stream: OK`, `stream: <name> FOUND` or `... ERROR`. Answers the
 * signature names, or 'tooLarge' past `maxBytes` or clamd's own StreamMaxLength.
 */
async function instream(socketPath: string, chunks: AsyncIterable<Buffer> | Iterable<Buffer>, maxBytes: number, signal?: AbortSignal): Promise<string[] | 'tooLarge'> {
  signal?.throwIfAborted();
  const socket = await connectClamd(socketPath, 5000);
  const onAbort = () => socket.destroy(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const reply = readReply(socket);
    let sent = 0;
    let tooLarge = false;
    const write = async (data: Buffer) => {
      if (socket.destroyed) return;
      if (socket.write(data)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          socket.off('drain', done).off('close', done);
          resolve();
        };
        socket.on('drain', done).on('close', done);
      });
    };
    await write(Buffer.from('zINSTREAM\0'));
    for await (const chunk of chunks) {
      sent += chunk.length;
      if (sent > maxBytes) {
        tooLarge = true;
        break;
      }
      // clamd closes the stream early when over its limit: its reply says so, writes past it just fail.
      if (socket.destroyed || socket.writableEnded) break;
      const head = Buffer.alloc(4);
      head.writeUInt32BE(chunk.length);
      await write(head);
      await write(chunk);
    }
    signal?.throwIfAborted();
    if (tooLarge) return 'tooLarge';
    await write(Buffer.alloc(4));
    const { text, error } = await reply;
    signal?.throwIfAborted();
    if (/size limit exceeded/i.test(text)) return 'tooLarge';
    if (text === 'stream: OK') return [];
    const found = /^stream: (.+) FOUND$/.exec(text);
    if (found) return [found[1]!];
    // clamd hung up mid-stream and its answer was lost with the connection: over its StreamMaxLength
    // (the only reason it stops reading early), so the input goes where larger inputs go.
    if (!text && sent > 0 && (error?.code === 'EPIPE' || error?.code === 'ECONNRESET')) return 'tooLarge';
    throw new Error(`clamd: ${text || `closed the connection without an answer${error ? ` (${error.message})` : ''}`}`);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    socket.destroy();
  }
}

/** A buffer in frames of at most 1 MiB (clamd reads each frame whole). */
function* frames(bytes: Buffer): Generator<Buffer> {
  for (let at = 0; at < bytes.length; at += 2 ** 20) yield bytes.subarray(at, at + 2 ** 20);
}

/** A file's chunks; its read errors become {@link FileReadError}s. */
async function* readChunks(stream: Readable): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of stream) yield chunk as Buffer;
  } catch (err) {
    throw new FileReadError((err as Error).message);
  }
}

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find(Boolean)?.slice(0, 300) ?? '';
}
