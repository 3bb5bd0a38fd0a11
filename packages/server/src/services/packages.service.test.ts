import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ActionsRepository } from '../repositories/actions.repository.js';
import type { PackagesRepository } from '../repositories/packages.repository.js';
import { StorageFullError, type FileStore } from '../storage/file-store.js';
import { PackagesService } from './packages.service.js';
import type { AuditService } from './audit.service.js';
import type { TimelineService } from './timeline.service.js';

const ACTION = '11111111-2222-4333-8444-555555555555';
const MACHINE = 'a'.repeat(40);

describe('PackagesService', () => {
  it('answers 507 InsufficientStorage when the disk is full, with nothing half-written', async () => {
    const store = { append: async () => Promise.reject(new StorageFullError('The server has no space left for package files')) } as unknown as FileStore;
    const actions = { get: async () => ({ id: ACTION, machine_id: MACHINE, type: 'CollectInvestigationPackage', status: 'InProgress' }) } as unknown as ActionsRepository;
    const svc = new PackagesService({ get: async () => undefined } as unknown as PackagesRepository, actions, store, {} as TimelineService, {} as AuditService, () => new Date(), { retentionDays: 30, downloadUrlSeconds: 900, urlKey: Buffer.alloc(32) });
    const chunk = Buffer.from('data');
    const err = await svc.uploadChunk(MACHINE, ACTION, 0, chunk, createHash('sha256').update(chunk).digest('hex')).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 507, code: 'InsufficientStorage', message: 'The server has no space left for package files; the agent will retry later' });
  });
});
