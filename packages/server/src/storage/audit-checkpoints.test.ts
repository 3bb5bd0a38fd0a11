import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SignedCheckpoint } from '../audit/checkpoint.js';
import { CheckpointFile } from './audit-checkpoints.js';

const cp = (seq: number): SignedCheckpoint => ({ seq, hash: 'h'.repeat(64), time: '2026-11-30T00:00:00.000Z', keyId: 'k', signature: 's' }) as unknown as SignedCheckpoint;
let dir: string;
let file: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-cp-'));
  file = join(dir, 'audit', 'checkpoints.jsonl');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('CheckpointFile', () => {
  it('drops a line a crash cut short before appending the next, so the file still reads whole', async () => {
    const log = new CheckpointFile(file);
    await log.append(cp(3));
    appendFileSync(file, JSON.stringify(cp(5)).slice(0, 20)); // the crash: half a line, no newline
    await log.append(cp(6));
    expect(await log.read()).toEqual({ checkpoints: [cp(3), cp(6)], badLine: null });
  });

  it('keeps a whole last line that only lacks its newline', async () => {
    const log = new CheckpointFile(file);
    await log.append(cp(3));
    writeFileSync(file, readFileSync(file, 'utf8').trimEnd());
    await log.append(cp(4));
    expect(await log.read()).toEqual({ checkpoints: [cp(3), cp(4)], badLine: null });
  });
});
