import type { CollectContext, CollectedFile } from './types.js';
import { NOT_PRESENT } from './types.js';

/**
 * One CSV field per RFC 4180: quoted when it holds a comma, quote or line break, and otherwise
 * exactly as collected. Package files are evidence, so no cell is altered: spreadsheet-formula
 * safety belongs where a spreadsheet is written (the summary report types every cell as text).
 */
export function csvField(v: unknown): string {
  const s = v === null || v === undefined ? '' : v instanceof Date ? v.toISOString() : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** A CSV document with a header row; columns are the header's keys, in order. */
export function toCsv<T extends object>(columns: (keyof T & string)[], rows: T[]): string {
  const lines = [columns.join(',')];
  for (const r of rows) lines.push(columns.map((c) => csvField(r[c])).join(','));
  return `${lines.join('\n')}\n`;
}

/**
 * A CSV as a stream of lines, for listings that may not finish within the time budget: rows
 * collected before a time-out still reach the package (marked incomplete).
 */
export async function* csvLines<T extends object>(columns: (keyof T & string)[], rows: AsyncIterable<T>): AsyncGenerator<string> {
  yield `${columns.join(',')}\n`;
  for await (const r of rows) yield `${columns.map((c) => csvField(r[c])).join(',')}\n`;
}

/** A file saying its source is missing here, so an empty folder is never ambiguous. */
export function notPresent(name: string, source: string, detail?: string): CollectedFile {
  return { name, source, status: 'NotPresent', content: `${source}: ${NOT_PRESENT}${detail ? ` (${detail})` : ''}\n` };
}

const RULE = '='.repeat(78);

/**
 * Concatenates files under a header each (path, size, owner, mtime); directories contribute
 * their entries. Symbolic links are shown as links (with their target), never followed; a file
 * over `maxFileBytes` has only its first `maxFileBytes` read. Returns null when none exists.
 */
export async function concatFiles(ctx: CollectContext, paths: string[], opts: { maxFileBytes?: number } = {}): Promise<{ text: string; found: string[] } | null> {
  const parts: string[] = [];
  const found: string[] = [];
  const max = opts.maxFileBytes ?? 1024 * 1024;
  for (const p of await expandPaths(ctx, paths)) {
    const st = await ctx.lstat(p);
    if (!st) continue;
    found.push(p);
    const head = `${RULE}\n${p}  (${st.isSymbolicLink() ? `symlink -> ${(await ctx.readlink(p)) ?? '?'}, not followed` : `${st.size} bytes`}, uid ${st.uid}, mode ${(st.mode & 0o7777).toString(8)}, modified ${st.mtime.toISOString()})\n${RULE}\n`;
    if (st.isSymbolicLink() || !st.isFile()) {
      parts.push(head);
      continue;
    }
    let buf: Buffer | null;
    try {
      // One byte more than shown tells whether the file goes on (its size may be 0 in /proc).
      buf = await ctx.readRange(p, 0, max + 1);
    } catch (e) {
      parts.push(`${head}(could not read: ${(e as Error).message})\n`);
      continue;
    }
    if (!buf) continue;
    const body = buf.subarray(0, max).toString('utf8');
    const more = buf.length > max ? Math.max(st.size - max, 1) : 0;
    parts.push(`${head}${body}${body.endsWith('\n') ? '' : '\n'}${more ? `(... ${st.size > max ? `${more} more bytes` : 'more'} not shown)\n` : ''}`);
  }
  return found.length ? { text: parts.join('\n'), found } : null;
}

/**
 * Paths as given, with directories replaced by their entries (one level, sorted). A directory is
 * expanded only when it is reached without a link a user could have planted (~/.config/autostart
 * -> /etc is listed as the link it is); its entries are then read through the same checks.
 */
export async function expandPaths(ctx: CollectContext, paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    const st = await ctx.stat(p);
    const names = st?.isDirectory() ? await ctx.readDir(p) : null;
    if (names) {
      for (const n of names.sort()) out.push(`${p}/${n}`);
    } else {
      out.push(p);
    }
  }
  return out;
}

/** A text file from several commands, each under a `$ command` header; missing programs say so. */
export async function commandSections(ctx: CollectContext, commands: [string, string[]][]): Promise<{ text: string; anyOk: boolean }> {
  const parts: string[] = [];
  let anyOk = false;
  for (const [file, args] of commands) {
    const r = await ctx.run(file, args);
    const head = `${RULE}\n$ ${[file, ...args].join(' ')}\n${RULE}\n`;
    if (r.code === 127) {
      parts.push(`${head}${file}: ${NOT_PRESENT}\n`);
      continue;
    }
    if (r.code === 0) anyOk = true;
    parts.push(`${head}${r.stdout}${r.stdout.endsWith('\n') || !r.stdout ? '' : '\n'}${r.code !== 0 ? `(exit code ${r.code}: ${r.stderr.trim().slice(0, 500)})\n` : ''}`);
  }
  return { text: parts.join('\n'), anyOk };
}

/** A text section with a header, for files assembled from several sources. */
export function section(title: string, body: string): string {
  return `${RULE}\n${title}\n${RULE}\n${body}${body.endsWith('\n') ? '' : '\n'}`;
}

/** A file name safe inside a zip on every OS. */
export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '').slice(0, 120) || '_';
}
