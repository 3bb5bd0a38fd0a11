import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ActionsRepository } from '../repositories/actions.repository.js';
import type { PackagesRepository } from '../repositories/packages.repository.js';
import { StorageFullError, type FileStore } from '../storage/file-store.js';
import type { ActionLifecycle } from './action-lifecycle.js';
import { PackagesService } from './packages.service.js';
import type { AuditService } from './audit.service.js';
import type { TimelineService } from './timeline.service.js';

const ACTION = '11111111-2222-4333-8444-555555555555';
const MACHINE = 'a'.repeat(40);
const MiB = 1024 * 1024;

function service(store: Partial<FileStore>, opts: { maxPackageBytes?: number; diskReserveBytes?: number } = {}) {
  const actions = { get: async () => ({ id: ACTION, machine_id: MACHINE, type: 'CollectInvestigationPackage', status: 'InProgress' }) } as unknown as ActionsRepository;
  return new PackagesService({ get: async () => undefined } as unknown as PackagesRepository, actions, {} as ActionLifecycle, { freeBytes: async () => 100 * 1024 * MiB, ...store } as FileStore, {} as TimelineService, {} as AuditService, () => new Date(), {
    retentionDays: 30,
    downloadUrlSeconds: 900,
    urlKey: Buffer.alloc(32),
    maxPackageBytes: opts.maxPackageBytes ?? 4096 * MiB,
    diskReserveBytes: opts.diskReserveBytes ?? 1024 * MiB,
  });
}
const chunk = Buffer.alloc(4 * MiB, 1);
const chunkSha = createHash('sha256').update(chunk).digest('hex');

describe('PackagesService', () => {
  it('answers 507 InsufficientStorage when the disk is full, with nothing half-written', async () => {
    const svc = service({ append: async () => Promise.reject(new StorageFullError('The server has no space left for package files')) });
    const data = Buffer.from('data');
    const err = await svc.uploadChunk(MACHINE, ACTION, 0, data, createHash('sha256').update(data).digest('hex')).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 507, code: 'InsufficientStorage', message: 'The server has no space left for package files; the agent will retry later' });
  });

  // The reserve is what must stay free after the chunk is written.
  it.each([
    ['leaves more than the reserve', 1024 * MiB + chunk.length + 1, true],
    ['leaves exactly the reserve', 1024 * MiB + chunk.length, true],
    ['would eat one byte of the reserve', 1024 * MiB + chunk.length - 1, false],
    ['finds the disk already below the reserve', 10 * MiB, false],
  ])('a chunk that %s (free: %i bytes) is written: %s', async (_what, free, written) => {
    const appended: number[] = [];
    const svc = service({ freeBytes: async () => free, append: async (_id, offset, c) => (appended.push(offset), { written: true, end: offset + c.length }) });
    const r = await svc.uploadChunk(MACHINE, ACTION, 0, chunk, chunkSha).catch((e: unknown) => e);
    if (written) expect(r).toEqual({ offset: chunk.length });
    else expect(r).toMatchObject({ status: 507, code: 'InsufficientStorage', message: expect.stringMatching(/diskReserveBytes keeps 1024 MiB free/) });
    expect(appended).toEqual(written ? [0] : []);
  });

  it('turns the reserve off with diskReserveBytes 0', async () => {
    const svc = service({ freeBytes: async () => chunk.length, append: async (_id, offset, c) => ({ written: true, end: offset + c.length }) }, { diskReserveBytes: 0 });
    expect(await svc.uploadChunk(MACHINE, ACTION, 0, chunk, chunkSha)).toEqual({ offset: chunk.length });
  });
});
