import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Journal } from './journal.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-journal-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('Journal', () => {
  it('keeps entries across instances (restarts)', () => {
    const j = new Journal(dir);
    j.put({ actionId: '00000000-0000-4000-8000-000000000001', type: 'RefreshInventory', expiresAt: '2026-12-01T00:00:00.000Z', state: 'running', bootId: 'b1', startedAt: '2026-11-25T00:00:00.000Z', reported: false });
    j.close();
    expect(new Journal(dir).get('00000000-0000-4000-8000-000000000001')?.state).toBe('running');
  });

  it('refuses a second agent process on the same data directory, and takes over a dead one', async () => {
    // A live process holds the lock.
    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)']);
    writeFileSync(join(dir, 'agent.lock'), String(holder.pid));
    try {
      expect(() => new Journal(dir)).toThrow(`Another agent (pid ${holder.pid}) is already running`);
    } finally {
      holder.kill('SIGKILL');
      await new Promise((r) => holder.on('exit', r));
    }
    // Its process is gone: the stale lock is taken over.
    const j = new Journal(dir);
    j.close();
  });
});
