import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import tar from 'tar-stream';
import yazl from 'yazl';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { archiveKindOf, archiveMembers, DEFAULT_ARCHIVE_LIMITS, type ArchiveItem, type ArchiveLimits, type ArchiveSource } from './archives.js';

// Built at run time, so that the repository holds no EICAR file.
const EICAR = Buffer.from(['X5O!P%@AP[4\\PZX54(P^)7CC)7}$EICAR', '-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*'].join(''));
const MiB = 1024 * 1024;

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-archives-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, bytes: Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

type ZipEntry = { name: string; data?: Buffer; compress?: boolean; zip64?: boolean };
async function zip(entries: ZipEntry[]): Promise<Buffer> {
  const z = new yazl.ZipFile();
  for (const e of entries) {
    if (!e.data) z.addEmptyDirectory(e.name);
    else z.addBuffer(e.data, e.name, { compress: e.compress ?? true, forceZip64Format: e.zip64 ?? false });
  }
  z.end();
  return collectStream(z.outputStream as Readable);
}

type TarEntry = Partial<tar.Header> & { name: string; data?: Buffer };
async function tarball(entries: TarEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const out = collectStream(pack as unknown as Readable);
  for (const { data, ...header } of entries) pack.entry({ type: 'file', ...header }, data ?? Buffer.alloc(0));
  pack.finalize();
  return out;
}

async function collectStream(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk);
  return Buffer.concat(parts);
}

/** A gzip of `bytes` zeros, made without ever holding them. */
function gzipOfZeros(bytes: number): Promise<Buffer> {
  const zeros = Buffer.alloc(MiB);
  const chunks = (function* () {
    for (let left = bytes; left > 0; left -= MiB) yield left >= MiB ? zeros : zeros.subarray(0, left);
  })();
  return collectStream(Readable.from(chunks).pipe(zlib.createGzip({ level: 1 })));
}

async function all(source: ArchiveSource, limits: Partial<ArchiveLimits> = {}, signal?: AbortSignal): Promise<ArchiveItem[]> {
  const items: ArchiveItem[] = [];
  for await (const item of archiveMembers(source, { ...DEFAULT_ARCHIVE_LIMITS, ...limits }, signal)) items.push(item);
  return items;
}

/** Items without their bytes, for comparing. */
function brief(items: ArchiveItem[]) {
  return items.map((i) => (i.kind === 'member' ? { member: i.path, depth: i.depth, size: i.bytes.length } : { skipped: i.path, reason: i.reason }));
}

describe('archiveKindOf', () => {
  it('knows an archive by its magic bytes, never by its name', async () => {
    expect(archiveKindOf(await zip([{ name: 'a', data: Buffer.from('a') }]))).toBe('zip');
    expect(archiveKindOf(await zip([]))).toBe('zip'); // an empty zip is only its end record
    expect(archiveKindOf(zlib.gzipSync('x'))).toBe('gzip');
    expect(archiveKindOf(await tarball([{ name: 'a', data: Buffer.from('a') }]))).toBe('tar');
    expect(archiveKindOf(Buffer.from([0x1f, 0x8b, 0x00, 0x00]))).toBeNull(); // no such gzip method
    expect(archiveKindOf(Buffer.from('PK not really'))).toBeNull();
    // A text file named .zip is not opened; a zip named .txt is.
    expect(await all({ path: file('evil.zip', Buffer.from('just text')) })).toEqual([]);
    const txt = file('report.txt', await zip([{ name: 'e.com', data: EICAR }]));
    expect(brief(await all({ path: txt }))).toEqual([{ member: `${txt}!e.com`, depth: 1, size: EICAR.length }]);
  });
});

describe('archiveMembers', () => {
  it('gives EICAR inside a zip, stored, deflated or in zip64 form, and passes over directories', async () => {
    const path = file('a.zip', await zip([{ name: 'docs/' }, { name: 'docs/eicar.com', data: EICAR }, { name: 'stored.com', data: EICAR, compress: false }, { name: 'z64.com', data: EICAR, zip64: true }]));
    const items = await all({ path });
    expect(brief(items)).toEqual([
      { member: `${path}!docs/eicar.com`, depth: 1, size: EICAR.length },
      { member: `${path}!stored.com`, depth: 1, size: EICAR.length },
      { member: `${path}!z64.com`, depth: 1, size: EICAR.length },
    ]);
    for (const item of items) expect(item.kind === 'member' && item.bytes.equals(EICAR)).toBe(true);
  });

  it('gives EICAR inside a tar.gz, at the depth of the tar.gz itself', async () => {
    const path = file('a.tar.gz', zlib.gzipSync(await tarball([{ name: 'dir', type: 'directory' }, { name: 'dir/eicar.txt', data: EICAR }, { name: 'dir/readme', data: Buffer.from('hello') }])));
    const items = await all({ path });
    expect(brief(items)).toEqual([
      { member: `${path}!dir/eicar.txt`, depth: 1, size: EICAR.length },
      { member: `${path}!dir/readme`, depth: 1, size: 5 },
    ]);
    expect(items[0]!.kind === 'member' && items[0]!.bytes.equals(EICAR)).toBe(true);
  });

  it('names the member of a plain gzip after its file, and reads a member given as bytes', async () => {
    const notes = file('notes.txt.gz', zlib.gzipSync(EICAR));
    expect(brief(await all({ path: notes }))).toEqual([{ member: `${notes}!notes.txt`, depth: 1, size: EICAR.length }]);
    const odd = file('odd.tgz', zlib.gzipSync('not a tar'));
    expect(brief(await all({ path: odd }))).toEqual([{ member: `${odd}!odd.tar`, depth: 1, size: 9 }]);
    expect(brief(await all({ name: '/x/a.zip!blob', bytes: zlib.gzipSync(EICAR) }))).toEqual([{ member: '/x/a.zip!blob!gzip', depth: 1, size: EICAR.length }]);
  });

  it('opens a zip inside a tar.gz inside a zip, down to the depth limit', async () => {
    const deep = await zip([{ name: 'eicar.com', data: EICAR }]);
    const inner = zlib.gzipSync(await tarball([{ name: 'dir/deep.zip', data: deep }]));
    const path = file('outer.zip', await zip([{ name: 'inner.tar.gz', data: inner }]));
    const items = await all({ path });
    expect(brief(items)).toEqual([
      { member: `${path}!inner.tar.gz`, depth: 1, size: inner.length },
      { member: `${path}!inner.tar.gz!dir/deep.zip`, depth: 2, size: deep.length },
      { member: `${path}!inner.tar.gz!dir/deep.zip!eicar.com`, depth: 3, size: EICAR.length },
    ]);
    expect(items[2]!.kind === 'member' && items[2]!.bytes.equals(EICAR)).toBe(true);

    // One level less: the innermost zip is still a member (scanned whole), but not opened.
    const limited = await all({ path }, { maxDepth: 2 });
    expect(brief(limited).slice(0, 2)).toEqual(brief(items).slice(0, 2));
    expect(limited[2]).toMatchObject({ kind: 'skipped', path: `${path}!inner.tar.gz!dir/deep.zip`, reason: 'TooDeep' });
    expect(limited).toHaveLength(3);
  });

  it('skips a member over the member limit, in a zip and in a tar, and goes on with the others', async () => {
    const big = randomBytes(2 * MiB);
    const entries = [
      { name: 'a.txt', data: Buffer.from('a') },
      { name: 'big.bin', data: big },
      { name: 'c.txt', data: EICAR },
    ];
    const zipPath = file('m.zip', await zip(entries));
    const tarPath = file('m.tar', await tarball(entries));
    for (const path of [zipPath, tarPath]) {
      const items = await all({ path }, { maxMemberBytes: MiB });
      expect(brief(items)).toEqual([
        { member: `${path}!a.txt`, depth: 1, size: 1 },
        { skipped: `${path}!big.bin`, reason: 'TooLarge' },
        { member: `${path}!c.txt`, depth: 1, size: EICAR.length },
      ]);
      expect(items[1]).toMatchObject({ detail: 'more than 1 MiB once decompressed (the member limit)' });
    }
  });

  it('stops a gzip bomb and a zip bomb at the member limit, without the memory they would take', async () => {
    const zeros = await gzipOfZeros(200 * MiB);
    const gz = file('bomb.gz', zeros);
    const z = new yazl.ZipFile();
    z.addReadStream(zlib.createGunzip().end(zeros), 'bomb.bin', { compress: true, compressionLevel: 1 });
    z.end();
    const zipPath = file('bomb.zip', await collectStream(z.outputStream as Readable));

    for (const [path, member] of [
      [gz, `${gz}!bomb`],
      [zipPath, `${zipPath}!bomb.bin`],
    ] as const) {
      const before = process.memoryUsage().rss;
      let peak = before;
      const sample = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 2);
      try {
        const items = await all({ path }, { maxMemberBytes: 16 * MiB });
        expect(brief(items)).toEqual([{ skipped: member, reason: 'TooLarge' }]);
      } finally {
        clearInterval(sample);
      }
      peak = Math.max(peak, process.memoryUsage().rss);
      expect(peak - before).toBeLessThan(80 * MiB);
    }
  });

  it('stops at the total limit and at the member count of one outer file, naming what it did not read', async () => {
    const three = [1, 2, 3].map((n) => ({ name: `${n}.bin`, data: randomBytes(MiB) }));
    const zipPath = file('t.zip', await zip(three));
    expect(brief(await all({ path: zipPath }, { maxTotalBytes: 2.5 * MiB }))).toEqual([
      { member: `${zipPath}!1.bin`, depth: 1, size: MiB },
      { member: `${zipPath}!2.bin`, depth: 1, size: MiB },
      { skipped: `${zipPath}!3.bin`, reason: 'TotalTooLarge' },
    ]);
    const tarPath = file('t.tar.gz', zlib.gzipSync(await tarball(three)));
    const tarItems = await all({ path: tarPath }, { maxTotalBytes: 2.5 * MiB });
    expect(brief(tarItems)).toEqual([
      { member: `${tarPath}!1.bin`, depth: 1, size: MiB },
      { member: `${tarPath}!2.bin`, depth: 1, size: MiB },
      { skipped: `${tarPath}!3.bin`, reason: 'TotalTooLarge' },
    ]);
    expect(tarItems[2]).toMatchObject({ detail: expect.stringContaining(`the rest of ${tarPath} was not read`) });

    expect(brief(await all({ path: zipPath }, { maxMembers: 2 }))).toEqual([
      { member: `${zipPath}!1.bin`, depth: 1, size: MiB },
      { member: `${zipPath}!2.bin`, depth: 1, size: MiB },
      { skipped: zipPath, reason: 'TooManyMembers' },
    ]);
  });

  it('gives one Corrupt item for a truncated zip, and the members before the break of a truncated tar.gz', async () => {
    const whole = await zip([{ name: 'a.txt', data: randomBytes(4096) }]);
    const zipPath = file('cut.zip', whole.subarray(0, whole.length - 30));
    const zipItems = await all({ path: zipPath });
    expect(brief(zipItems)).toEqual([{ skipped: zipPath, reason: 'Corrupt' }]);

    const tgz = zlib.gzipSync(await tarball([{ name: 'first', data: EICAR }, { name: 'second', data: randomBytes(256 * 1024) }]));
    const tgzPath = file('cut.tar.gz', tgz.subarray(0, tgz.length - 1000));
    expect(brief(await all({ path: tgzPath }))).toEqual([
      { member: `${tgzPath}!first`, depth: 1, size: EICAR.length },
      { skipped: `${tgzPath}!second`, reason: 'Corrupt' },
    ]);

    // Not gzip data after the magic bytes; a tar header whose checksum is wrong.
    const bad = file('bad.gz', Buffer.from([0x1f, 0x8b, 0x08, 0xff, 1, 2, 3, 4, 5, 6, 7, 8]));
    expect(brief(await all({ path: bad }))).toEqual([{ skipped: bad, reason: 'Corrupt' }]);
    const header = await tarball([{ name: 'x', data: Buffer.from('x') }]);
    header[0] = 'y'.charCodeAt(0);
    expect(brief(await all({ name: 'broken.tar', bytes: header }))).toEqual([{ skipped: 'broken.tar', reason: 'Corrupt' }]);
  });

  it('skips an encrypted zip member and reads the others', async () => {
    const bytes = await zip([{ name: 'secret.com', data: EICAR }, { name: 'plain.com', data: EICAR }]);
    // Set the "encrypted" bit (0x1) of the first member in its local and its central header.
    bytes.writeUInt16LE(bytes.readUInt16LE(6) | 1, 6);
    const central = bytes.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
    bytes.writeUInt16LE(bytes.readUInt16LE(central + 8) | 1, central + 8);
    const path = file('enc.zip', bytes);
    expect(brief(await all({ path }))).toEqual([
      { skipped: `${path}!secret.com`, reason: 'Encrypted' },
      { member: `${path}!plain.com`, depth: 1, size: EICAR.length },
    ]);
  });

  it('takes only regular files from a tar, with long names, and shows names as safe labels', async () => {
    const long = `${'a'.repeat(150)}/x.txt`;
    const path = file('l.tar', await tarball([
      { name: 'd', type: 'directory' },
      { name: 'd/file', data: EICAR },
      { name: 'd/link', type: 'symlink', linkname: '/etc/passwd' },
      { name: 'd/hard', type: 'link', linkname: 'd/file' },
      { name: 'd/tty', type: 'character-device', devmajor: 4, devminor: 1 },
      { name: 'd/fifo', type: 'fifo' },
      { name: long, data: Buffer.from('long') },
      { name: '../../etc/\x1b[31mred\u202Etxt.exe', data: Buffer.from('x') },
    ]));
    expect(brief(await all({ path }))).toEqual([
      { member: `${path}!d/file`, depth: 1, size: EICAR.length },
      { member: `${path}!${long}`, depth: 1, size: 4 },
      { member: `${path}!../../etc/\\u001b[31mred\\u202etxt.exe`, depth: 1, size: 1 },
    ]);
    // A GNU sparse file (type 'S'), which tar-stream does not read, is named, not passed over in silence.
    const sparse = Buffer.concat([ustarHeader('sparse.bin', 512, 'S'), Buffer.alloc(512, 1), ustarHeader('after', 0), Buffer.alloc(1024)]);
    expect(brief(await all({ name: 's.tar', bytes: sparse }))).toEqual([
      { skipped: 's.tar!sparse.bin', reason: 'Unsupported' },
      { member: 's.tar!after', depth: 1, size: 0 },
    ]);
  });

  it('leaves no file open, also when the consumer stops early', async () => {
    const zipPath = file('o.zip', await zip([1, 2, 3].map((n) => ({ name: `${n}`, data: randomBytes(300 * 1024) }))));
    const tgzPath = file('o.tar.gz', zlib.gzipSync(await tarball([1, 2, 3].map((n) => ({ name: `${n}`, data: randomBytes(300 * 1024) })))));
    // The descriptors open on this test's files: other tests' sockets and threads in the same worker
    // may open or close descriptors of their own meanwhile (counting all of them was flaky).
    const open = () =>
      readdirSync('/proc/self/fd').filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(dir);
        } catch {
          return false;
        }
      }).length;
    const before = open();
    expect(before).toBe(0);
    for (const path of [zipPath, tgzPath]) {
      await all({ path });
      for await (const item of archiveMembers({ path }, DEFAULT_ARCHIVE_LIMITS)) {
        expect(item.kind).toBe('member');
        break;
      }
    }
    await new Promise((r) => setTimeout(r, 50)); // closes are asynchronous
    expect(open()).toBe(before);
  });

  it('throws when the file cannot be read (the scanner counts it like any unreadable file)', async () => {
    await expect(all({ path: join(dir, 'gone.zip') })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('stops within a second of an abort, even inside a large member', async () => {
    // A tar.gz whose one member is 8000 MiB of zeros: gzip members concatenated, a few MB on disk.
    const piece = await gzipOfZeros(200 * MiB);
    const path = file('huge.tar.gz', Buffer.concat([zlib.gzipSync(ustarHeader('huge.bin', 40 * 200 * MiB)), ...Array<Buffer>(40).fill(piece)]));
    const controller = new AbortController();
    const items = archiveMembers({ path }, { ...DEFAULT_ARCHIVE_LIMITS, maxMemberBytes: MiB, maxTotalBytes: 16 * 1024 * MiB }, controller.signal);
    const next = items.next();
    await new Promise((r) => setTimeout(r, 300));
    const abortedAt = Date.now();
    controller.abort();
    await expect(next).rejects.toMatchObject({ name: 'AbortError' });
    expect(Date.now() - abortedAt).toBeLessThan(1000);
  });
});

/** A ustar header for a file of `size` bytes (tar-stream's packer wants the data too). */
function ustarHeader(name: string, size: number, type = '0'): Buffer {
  const h = Buffer.alloc(512);
  h.write(name, 0);
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(`${size.toString(8).padStart(11, '0')}\0`, 124);
  h.write('00000000000\0', 136);
  h.write('        ', 148);
  h.write(type, 156);
  h.write('ustar\0', 257);
  h.write('00', 263);
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148);
  return h;
}
