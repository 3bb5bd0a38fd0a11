import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSafeFiles } from './safe-files.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-safe-files-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readPieces', () => {
  it('reads a range of a regular file in pieces of readBytes, all in one reused buffer', async () => {
    const data = randomBytes(10_000);
    writeFileSync(join(dir, 'f'), data);
    const copies: Buffer[] = [];
    const memory = new Set<ArrayBufferLike>();
    for await (const piece of createSafeFiles().readPieces(join(dir, 'f'), { start: 100, length: 9_000, readBytes: 4096 })) {
      copies.push(Buffer.from(piece));
      memory.add(piece.buffer);
    }
    expect(copies.map((c) => c.length)).toEqual([4096, 4096, 808]);
    expect(Buffer.concat(copies).equals(data.subarray(100, 9_100))).toBe(true);
    expect(memory.size).toBe(1);
  });

  it('refuses what is not a regular file, as openFile does', async () => {
    const read = async () => {
      for await (const piece of createSafeFiles().readPieces(dir)) void piece;
    };
    await expect(read()).rejects.toMatchObject({ code: 'UNSAFE_PATH', message: expect.stringContaining('it is not a regular file (directory)') });
  });
});
