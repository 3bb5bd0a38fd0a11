/**
 * The work a scan does on one file, as a scan worker thread runs it (scan-worker.ts): open it without
 * following a link, read it into a buffer reused from file to file, hash it with node:crypto and scan
 * it with YARA-X's synchronous call, then the same for each member when it is an archive. Only what
 * the main thread needs comes back: the file's facts and hashes, the rules that matched, and the
 * archive members worth judging; the bytes never leave this thread.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import type { YaraRules } from '@cordon/protocol/yara';
import { archiveKindOf, archiveMembers, type ArchiveLimits } from './archives.js';
import type { FileHashes } from './hash-indicators.js';

/** What every file of a scan is read with (the same for all the workers of one scan). */
export interface FileScanSettings {
  maxFileBytes: number;
  /** Files up to this size are read whole (into a reused buffer); larger ones are scanned in place. */
  bufferBytes: number;
  archives: ArchiveLimits;
  /** MD5 for every file (an MD5 indicator exists); otherwise only for a file that matched something. */
  md5: boolean;
  /** Every hash an indicator names (any algorithm): a file or member with one of them is reported even without a rule match. */
  indicatorHashes: string[];
}

export interface FileTask {
  id: number;
  path: string;
  /** Read here instead, following links (a kernel magic link such as /proc/<pid>/exe). */
  readVia?: string;
}

/** The stat of the file as it was read (through the descriptor that read it). */
export interface FileFacts {
  size: number;
  mtimeMs: number;
  uid: number;
  dev: number;
  ino: number;
}

/** A rule that matched, without its pattern matches (the detection needs the name and meta only). */
export interface RuleHit {
  ruleIdentifier: string;
  meta: Record<string, string | number | boolean>;
}

/** The rules that matched, or why they could not run ('Timeout' or the error). */
export type RulesOutcome = { hits: RuleHit[] } | { problem: string; timeout: boolean };

export interface MemberOutcome {
  /** `outer!member[!inner…]`, labelled from the outer file's path. */
  path: string;
  sha256: string;
  rules: RulesOutcome;
}

export type ScanSkipReason = 'Vanished' | 'Unreadable' | 'NotRegular' | 'TooLarge' | 'Timeout' | 'Error' | 'TooDeep' | 'TooManyMembers' | 'TotalTooLarge' | 'Encrypted' | 'Corrupt' | 'Unsupported';

export interface SkippedItem {
  path: string;
  reason: ScanSkipReason;
  detail: string;
}

export type FileOutcome =
  | { id: number; kind: 'skipped'; skipped: SkippedItem }
  | {
      id: number;
      kind: 'scanned';
      facts: FileFacts;
      hashes: FileHashes;
      rules: RulesOutcome;
      /** Members opened (all of them, counted). */
      memberCount: number;
      /** Only the members that matched a rule, failed to scan, or carry an indicator's hash. */
      members: MemberOutcome[];
      /** Members (or the archive itself) that a limit or a fault left unscanned. */
      skipped: SkippedItem[];
    };

const PIECE = 4 * 1024 * 1024;

/** One worker's scanner: its own copy of the rules and one buffer, reused for every file. */
export class FileScanner {
  #buffer = Buffer.allocUnsafe(1024 * 1024);
  readonly #indicatorHashes: Set<string>;

  constructor(
    private readonly rules: YaraRules,
    private readonly settings: FileScanSettings,
  ) {
    this.#indicatorHashes = new Set(settings.indicatorHashes);
  }

  async scan(task: FileTask): Promise<FileOutcome> {
    const { id, path } = task;
    let fd: number;
    try {
      // Never through a link a user planted (O_NOFOLLOW), never blocking on a FIFO swapped in (O_NONBLOCK).
      fd = openSync(task.readVia ?? path, constants.O_RDONLY | constants.O_NONBLOCK | (task.readVia ? 0 : constants.O_NOFOLLOW));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      return skipped(id, path, code === 'ENOENT' || code === 'ELOOP' ? 'Vanished' : 'Unreadable', code === 'ELOOP' ? 'replaced by a symbolic link before it was read' : (e as Error).message);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return skipped(id, path, 'NotRegular', 'replaced by something that is not a regular file before it was read');
      if (st.size > this.settings.maxFileBytes) return skipped(id, path, 'TooLarge', `${st.size} bytes; the limit is ${this.settings.maxFileBytes}`);
      const facts: FileFacts = { size: st.size, mtimeMs: st.mtimeMs, uid: st.uid, dev: st.dev, ino: st.ino };
      const inPlace = `/proc/self/fd/${fd}`;
      const bytes = st.size <= this.settings.bufferBytes ? this.#readWhole(fd, st.size) : null;
      const rules = this.#rules(bytes ?? inPlace);
      const hashes = bytes ? this.#hashBuffer(bytes, rules) : this.#hashInPlace(fd);
      const archive = { memberCount: 0, members: [] as MemberOutcome[], skipped: [] as SkippedItem[] };
      if (archiveKindOf(bytes ? bytes.subarray(0, 512) : this.#head(fd))) await this.#scanArchive(path, bytes ? { name: path, bytes } : { path: inPlace }, inPlace, archive);
      return { id, kind: 'scanned', facts, hashes, rules, ...archive };
    } catch (e) {
      return skipped(id, path, 'Error', (e as Error).message);
    } finally {
      closeSync(fd);
    }
  }

  /** The file's bytes in the reused buffer (valid until the next file); a file that shrank gives fewer. */
  #readWhole(fd: number, size: number): Buffer {
    if (this.#buffer.length < size) this.#buffer = Buffer.allocUnsafe(Math.min(this.settings.bufferBytes, Math.max(size, this.#buffer.length * 2)));
    let n = 0;
    for (let r = 1; n < size && r > 0; n += r) r = readSync(fd, this.#buffer, n, size - n, n);
    return this.#buffer.subarray(0, n);
  }

  #head(fd: number): Buffer {
    const head = Buffer.alloc(512);
    return head.subarray(0, readSync(fd, head, 0, 512, 0));
  }

  #rules(target: Buffer | string): RulesOutcome {
    try {
      const matches = typeof target === 'string' ? this.rules.scanFile(target) : this.rules.scan(target);
      return { hits: matches.map((m) => ({ ruleIdentifier: m.ruleIdentifier, meta: m.meta })) };
    } catch (e) {
      const message = (e as Error).message;
      return { problem: message, timeout: /timed out/i.test(message) };
    }
  }

  #hashBuffer(bytes: Buffer, rules: RulesOutcome): FileHashes {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const sha1 = createHash('sha1').update(bytes).digest('hex');
    // MD5 goes into a detection's evidence: worked out for a file something matched, or for all when an indicator needs it.
    const md5 = this.settings.md5 || ('hits' in rules && rules.hits.length > 0) || this.#indicatorHashes.has(sha256) || this.#indicatorHashes.has(sha1);
    return { sha256, sha1, ...(md5 ? { md5: createHash('md5').update(bytes).digest('hex') } : {}) };
  }

  #hashInPlace(fd: number): FileHashes {
    const hashes: Hash[] = [createHash('sha256'), createHash('sha1'), ...(this.settings.md5 ? [createHash('md5')] : [])];
    if (this.#buffer.length < PIECE) this.#buffer = Buffer.allocUnsafe(PIECE);
    for (let pos = 0, r = 1; r > 0; pos += r) {
      r = readSync(fd, this.#buffer, 0, PIECE, pos);
      for (const h of hashes) h.update(this.#buffer.subarray(0, r));
    }
    const [sha256, sha1, md5] = hashes.map((h) => h.digest('hex'));
    return { sha256, sha1, ...(md5 ? { md5 } : {}) };
  }

  async #scanArchive(path: string, source: { name: string; bytes: Buffer } | { path: string }, inPlace: string, out: { memberCount: number; members: MemberOutcome[]; skipped: SkippedItem[] }): Promise<void> {
    // Members are labelled from the name given; an archive read in place is named by its fd path.
    const label = (p: string) => ('path' in source && p.startsWith(inPlace) ? path + p.slice(inPlace.length) : p);
    try {
      for await (const item of archiveMembers(source, this.settings.archives)) {
        if (item.kind === 'skipped') {
          out.skipped.push({ path: label(item.path), reason: item.reason, detail: item.detail });
          continue;
        }
        out.memberCount++;
        const rules = this.#rules(item.bytes);
        const sha256 = createHash('sha256').update(item.bytes).digest('hex');
        if (!('hits' in rules) || rules.hits.length > 0 || this.#indicatorHashes.has(sha256)) out.members.push({ path: label(item.path), sha256, rules });
      }
    } catch (e) {
      out.skipped.push({ path, reason: 'Error', detail: `reading it as an archive: ${(e as Error).message}` });
    }
  }
}

function skipped(id: number, path: string, reason: ScanSkipReason, detail: string): FileOutcome {
  return { id, kind: 'skipped', skipped: { path, reason, detail } };
}
