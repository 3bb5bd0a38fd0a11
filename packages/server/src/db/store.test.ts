import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { openStore } from './database.js';

let dir: string;
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('the SQLite store', () => {
  it('is readable by the server only, even in a data directory someone else made (0755, umask 022)', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cordon-store-'));
    const dataDir = join(dir, 'data');
    mkdirSync(dataDir, { mode: 0o755 });
    const previous = process.umask(0o022);
    try {
      const db = await openStore({ dataDir });
      await db.destroy();
    } finally {
      process.umask(previous);
    }
    for (const f of ['cordon.db', 'cordon.db-wal', 'cordon.db-shm']) {
      const p = join(dataDir, f);
      let mode: number;
      try {
        mode = statSync(p).mode & 0o777;
      } catch {
        continue; // WAL and SHM exist only while open on some platforms
      }
      expect([f, mode & 0o077]).toEqual([f, 0]);
    }
  });
});
