/**
 * Opening archives for the antivirus scanner: the members of a zip, tar or gzip file (and of the
 * archives inside them, to a depth), as bytes to scan. Nothing is extracted to disk, and member
 * names are only labels. Every limit counts bytes as they come out of the decoder, never the sizes
 * a header declares, so a bomb costs at most the limit; whatever a limit stops is reported as a
 * skipped item, never dropped.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { pipeline, Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import yauzl from 'yauzl';

export type ArchiveKind = 'zip' | 'tar' | 'gzip';

/** What an archive is, by its magic bytes (never by its name); `head` is the file's first 512 bytes. */
export function archiveKindOf(head: Buffer): ArchiveKind | null {
  if (head.length >= 4 && head[0] === 0x50 && head[1] === 0x4b && ((head[2] === 3 && head[3] === 4) || (head[2] === 5 && head[3] === 6))) return 'zip';
  // 08 (deflate) is the only compression method gzip defines: a stray 1f 8b is not taken for one.
  if (head.length >= 3 && head[0] === 0x1f && head[1] === 0x8b && head[2] === 8) return 'gzip';
  if (head.length >= 262 && head.toString('latin1', 257, 262) === 'ustar') return 'tar';
  return null;
}

export interface ArchiveLimits {
  /** Archive levels opened: 1 = the members of the file itself, 2 = also those of the archives in it… */
  maxDepth: number;
  /** Bytes of one member, counted as they are decompressed. */
  maxMemberBytes: number;
  /** Bytes read out of archives (decompressed, or stored) for one outer file, at every level together. */
  maxTotalBytes: number;
  /** Entries (of any kind) in one outer file, at every level together. */
  maxMembers: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const DEFAULT_ARCHIVE_LIMITS: ArchiveLimits = { maxDepth: 3, maxMemberBytes: 64 * MiB, maxTotalBytes: 512 * MiB, maxMembers: 10_000 };

export type SkipReason = 'TooLarge' | 'TooDeep' | 'TooManyMembers' | 'TotalTooLarge' | 'Encrypted' | 'Corrupt' | 'Unsupported';

/**
 * `path` is the outer file's path, then `!` and the member's name for each level
 * ('/x/a.zip!dir/b.tar.gz!c.sh'); `depth` is 1 for the members of the outer file.
 */
export type ArchiveItem =
  | { kind: 'member'; path: string; bytes: Buffer; depth: number }
  | { kind: 'skipped'; path: string; reason: SkipReason; detail: string };

export type ArchiveSource = { path: string } | { name: string; bytes: Buffer };

/**
 * The members of the archive at `path` (or given as bytes), each followed by the members of those
 * that are archives themselves, within the limits. Yields nothing for a file that is not an archive.
 * A corrupt or unsupported archive gives a skipped item, never an error: the generator throws only
 * when `signal` aborts (its reason) or the file at `path` cannot be read (the I/O error).
 */
export async function* archiveMembers(source: ArchiveSource, limits: ArchiveLimits = DEFAULT_ARCHIVE_LIMITS, signal?: AbortSignal): AsyncGenerator<ArchiveItem> {
  const walk: Walk = { limits, signal, bytes: 0, members: 0 };
  const at = 'path' in source ? source.path : source.name;
  const data: Data = 'path' in source ? { path: source.path } : { bytes: source.bytes };
  const kind = archiveKindOf('bytes' in data ? data.bytes : await fileHead(data.path));
  if (!kind) return;
  if (limits.maxDepth < 1) {
    yield skip(at, 'TooDeep', `archives are not opened (depth limit ${limits.maxDepth})`);
    return;
  }
  yield* expand(kind, data, at, 1, walk);
}

/** A file on disk (read as a stream, or at random for a zip) or a member already read. */
type Data = { path: string } | { bytes: Buffer };

/** One outer file's walk: what it has used of its limits so far. */
interface Walk {
  limits: ArchiveLimits;
  signal: AbortSignal | undefined;
  bytes: number;
  members: number;
}

class LimitReached extends Error {
  constructor(
    readonly reason: 'TotalTooLarge',
    message: string,
  ) {
    super(message);
  }
}

async function* expand(kind: ArchiveKind, data: Data, at: string, depth: number, walk: Walk): AsyncGenerator<ArchiveItem> {
  const members = kind === 'zip' ? zipMembers(data, at, depth, walk) : kind === 'gzip' ? gzipMembers(data, at, depth, walk) : tarMembers(metered(sourceStream(data), walk), at, depth, walk);
  for await (const item of members) {
    yield item;
    if (item.kind !== 'member') continue;
    const inner = archiveKindOf(item.bytes);
    if (!inner) continue;
    if (depth >= walk.limits.maxDepth) yield skip(item.path, 'TooDeep', `an archive inside ${depth} levels of archives is not opened (depth limit ${walk.limits.maxDepth})`);
    else yield* expand(inner, { bytes: item.bytes }, item.path, depth + 1, walk);
  }
}

// ---- zip ----

async function* zipMembers(data: Data, at: string, depth: number, walk: Walk): AsyncGenerator<ArchiveItem> {
  // Names are decoded here rather than by yauzl, which refuses a whole archive over one name like '../x'.
  const options: yauzl.Options = { lazyEntries: true, autoClose: false, decodeStrings: false, validateEntrySizes: false };
  let zip: yauzl.ZipFile;
  try {
    zip = 'path' in data ? await yauzl.openPromise(data.path, options) : await yauzl.fromBufferPromise(data.bytes, options);
  } catch (err) {
    yield failed(at, err, walk);
    return;
  }
  zip.on('error', () => {}); // each read takes its own error; a late one must not reach the process
  try {
    for (;;) {
      let entry: yauzl.Entry | null;
      try {
        entry = await nextEntry(zip);
      } catch (err) {
        yield failed(at, err, walk, 'the rest of the archive was not read');
        return;
      }
      if (!entry) return;
      walk.signal?.throwIfAborted();
      if (++walk.members > walk.limits.maxMembers) {
        yield tooManyMembers(at, walk);
        return;
      }
      const name = yauzl.getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      if (name.endsWith('/') || isZipSymlink(entry)) continue;
      yield await zipMember(zip, entry, `${at}!${label(name)}`, depth, walk);
    }
  } finally {
    zip.close();
  }
}

async function zipMember(zip: yauzl.ZipFile, entry: yauzl.Entry, path: string, depth: number, walk: Walk): Promise<ArchiveItem> {
  if (entry.isEncrypted()) return skip(path, 'Encrypted', 'the member is encrypted');
  if (entry.compressionMethod !== 0 && entry.compressionMethod !== 8) return skip(path, 'Unsupported', `compression method ${entry.compressionMethod} (only stored and deflated members are read)`);
  try {
    const raw = await zip.openReadStreamPromise(entry, { decodeFileData: false });
    const decoded = entry.compressionMethod === 0 ? raw : pipeline(raw, zlib.createInflateRaw({ chunkSize: 64 * KiB }), () => {});
    const bytes = await readMember(metered(decoded, walk), walk, false);
    return bytes ? { kind: 'member', path, bytes, depth } : tooLarge(path, walk);
  } catch (err) {
    return failed(path, err, walk);
  }
}

function nextEntry(zip: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((resolve, reject) => {
    const off = () => {
      zip.off('entry', onEntry);
      zip.off('end', onEnd);
      zip.off('error', onError);
    };
    const onEntry = (entry: yauzl.Entry) => (off(), resolve(entry));
    const onEnd = () => (off(), resolve(null));
    const onError = (err: Error) => (off(), reject(err));
    zip.on('entry', onEntry).on('end', onEnd).on('error', onError);
    zip.readEntry();
  });
}

/** A symbolic link stored by a Unix zip: its data is the link's target, not a file. */
function isZipSymlink(entry: yauzl.Entry): boolean {
  return entry.versionMadeBy >> 8 === 3 && ((entry.externalFileAttributes >>> 16) & 0o170000) === 0o120000;
}

// ---- tar ----

/** The regular files of a tar, from its (already metered) bytes. */
async function* tarMembers(chunks: AsyncIterable<Buffer>, at: string, depth: number, walk: Walk): AsyncGenerator<ArchiveItem> {
  const input = Readable.from(chunks, { objectMode: false });
  const extract = tar.extract();
  input.on('error', (err) => extract.destroy(err));
  input.pipe(extract);
  let reading = at; // the member being read, named if the archive fails there
  try {
    for await (const entry of extract) {
      walk.signal?.throwIfAborted();
      if (++walk.members > walk.limits.maxMembers) {
        yield tooManyMembers(at, walk);
        return;
      }
      const { type, name } = entry.header;
      const path = (reading = `${at}!${label(name)}`);
      // Links, directories and devices are not members; their data (if any) is passed over. Data
      // of an entry tar-stream does not know (a GNU sparse file…) is said to be not read.
      if (type !== 'file' && type !== 'contiguous-file') {
        for await (const _ of entry) walk.signal?.throwIfAborted();
        reading = at;
        if (!type && entry.header.size > 0) yield skip(path, 'Unsupported', 'a kind of tar entry that is not read (GNU sparse, multi-volume…)');
        continue;
      }
      const bytes = await readMember(entry as AsyncIterable<Buffer>, walk, true);
      reading = at;
      yield bytes ? { kind: 'member', path, bytes, depth } : tooLarge(path, walk);
    }
  } catch (err) {
    yield failed(reading, err, walk, reading === at ? undefined : `the rest of ${at} was not read`);
  } finally {
    input.destroy();
    extract.destroy();
  }
}

// ---- gzip ----

/**
 * The one member of a gzip file (named after the file: a.txt.gz → a.txt, a.tgz → a.tar), or, when
 * that member is a tar, the tar's members at the same depth ('/x/a.tar.gz!c.sh'): a tar.gz is
 * read as a stream, never held whole.
 */
async function* gzipMembers(data: Data, at: string, depth: number, walk: Walk): AsyncGenerator<ArchiveItem> {
  const decoded = pipeline(sourceStream(data), zlib.createGunzip({ chunkSize: 64 * KiB }), () => {});
  const chunks = metered(decoded, walk);
  const path = `${at}!${gunzippedName(at)}`;
  try {
    let head: Buffer;
    try {
      head = await readHead(chunks, 512);
    } catch (err) {
      yield failed(at, err, walk);
      return;
    }
    const all = prepend(head, chunks);
    if (archiveKindOf(head) === 'tar') {
      yield* tarMembers(all, at, depth, walk);
      return;
    }
    let item: ArchiveItem;
    try {
      const bytes = await readMember(all, walk, false);
      item = bytes ? { kind: 'member', path, bytes, depth } : tooLarge(path, walk);
    } catch (err) {
      item = failed(path, err, walk);
    }
    yield item;
  } finally {
    decoded.destroy(); // and the file under it
  }
}

function gunzippedName(at: string): string {
  const base = at.slice(Math.max(at.lastIndexOf('/'), at.lastIndexOf('!')) + 1);
  if (/\.tgz$/i.test(base)) return base.slice(0, -4) + '.tar';
  if (/.\.gz$/i.test(base)) return base.slice(0, -3);
  return 'gzip';
}

async function readHead(chunks: AsyncGenerator<Buffer>, size: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let length = 0;
  while (length < size) {
    const next = await chunks.next();
    if (next.done) break;
    parts.push(next.value);
    length += next.value.length;
  }
  return Buffer.concat(parts, length);
}

async function* prepend(head: Buffer, rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length) yield head;
  yield* rest;
}

// ---- reading within the limits ----

function sourceStream(data: Data): Readable {
  return 'path' in data ? createReadStream(data.path, { highWaterMark: MiB }) : Readable.from([data.bytes], { objectMode: false });
}

async function fileHead(path: string): Promise<Buffer> {
  const file = await open(path, 'r');
  try {
    const head = Buffer.alloc(512);
    const { bytesRead } = await file.read(head, 0, head.length, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

/** Counts what comes out of a decoder against the outer file's total, and stops at it. */
async function* metered(chunks: AsyncIterable<Buffer>, walk: Walk): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    walk.signal?.throwIfAborted();
    walk.bytes += chunk.length;
    if (walk.bytes > walk.limits.maxTotalBytes) throw new LimitReached('TotalTooLarge', `more than ${size(walk.limits.maxTotalBytes)} read out of the outer file's archives (the total limit)`);
    yield chunk;
  }
}

/**
 * A member's bytes, or null past the member limit. Past it nothing more is kept: a zip member stops
 * being decompressed; a tar member is `drain`ed, as the tar stream goes on after it.
 */
async function readMember(chunks: AsyncIterable<Buffer>, walk: Walk, drain: boolean): Promise<Buffer | null> {
  const parts: Buffer[] = [];
  let length = 0;
  for await (const chunk of chunks) {
    walk.signal?.throwIfAborted();
    length += chunk.length;
    if (length <= walk.limits.maxMemberBytes) parts.push(chunk);
    else if (!drain) return null;
    else parts.length = 0;
  }
  return length <= walk.limits.maxMemberBytes ? Buffer.concat(parts, length) : null;
}

// ---- items ----

function skip(path: string, reason: SkipReason, detail: string): ArchiveItem {
  return { kind: 'skipped', path, reason, detail };
}

function tooLarge(path: string, walk: Walk): ArchiveItem {
  return skip(path, 'TooLarge', `more than ${size(walk.limits.maxMemberBytes)} once decompressed (the member limit)`);
}

function tooManyMembers(at: string, walk: Walk): ArchiveItem {
  return skip(at, 'TooManyMembers', `more than ${walk.limits.maxMembers} members in the outer file (the limit); the rest of the archive was not read`);
}

/** What an error while reading means: a limit, a corrupt archive, or (rethrown) an abort or an I/O error. */
function failed(path: string, err: unknown, walk: Walk, more?: string): ArchiveItem {
  walk.signal?.throwIfAborted();
  if (err instanceof LimitReached) return skip(path, err.reason, more ? `${err.message}; ${more}` : err.message);
  if (typeof (err as NodeJS.ErrnoException).syscall === 'string') throw err;
  const message = err instanceof Error ? err.message : String(err);
  return skip(path, 'Corrupt', more ? `${message}; ${more}` : message);
}

function size(bytes: number): string {
  if (bytes >= MiB) return `${+(bytes / MiB).toFixed(1)} MiB`;
  if (bytes >= KiB) return `${+(bytes / KiB).toFixed(1)} KiB`;
  return `${bytes} bytes`;
}

// Control characters (a terminal escape in a name) and bidirectional overrides (which disguise
// 'exe.txt' as 'txt.exe') are shown escaped.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A member's name as a label: never a filesystem path, so only made safe to show. */
function label(name: string): string {
  return name.replace(UNSAFE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
