import type { Readable } from 'node:stream';
import { packageFileName } from '@cordon/protocol';
import { KeyedMutex, type Locks } from './counters.js';
import type { Clock } from '../clock.js';
import { BadRequestError, ConflictError, InsufficientStorageError, NotFoundError, PayloadTooLargeError } from '../errors.js';
import { DownloadUrls } from './download-urls.js';
import type { ActionRow, ActionsRepository } from '../repositories/actions.repository.js';
import type { PackageRow, PackagesRepository } from '../repositories/packages.repository.js';
import { StorageFullError, type FileStore } from '../storage/file-store.js';
import { chunkMatches, RunningHashes } from '../storage/running-hashes.js';
import type { Principal } from '../auth/permissions.js';
import type { ActionLifecycle } from './action-lifecycle.js';
import type { AuditService } from './audit.service.js';
import type { TimelineService } from './timeline.service.js';
import type { PackageView } from '../api/schemas.js';

/** Largest chunk an agent may send in one request. */
export const MAX_CHUNK_BYTES = 8 * 1024 * 1024;

const mib = (bytes: number): number => Math.floor(bytes / 1048576);

const view = (r: PackageRow): PackageView => ({ actionId: r.action_id, machineId: r.machine_id, size: Number(r.size), sha256: r.sha256, createdAt: r.created_at, expiresAt: r.expires_at, available: r.deleted_at === null });

/**
 * Investigation packages: resumable, verified uploads from agents (chunk by chunk, each chunk's
 * SHA-256 checked, the next offset always the acknowledged end), the file store, short-lived
 * signed download URLs, and retention. Limits: a package is at most `maxPackageBytes` and must be
 * a zip (else it is deleted and its action fails), and uploads stop while writing would leave less
 * than `diskReserveBytes` free, so the database on the same disk can still be written.
 */
export class PackagesService {
  /**
   * The whole-file SHA-256 of each upload in progress, fed chunk by chunk, so completing a 400 MB
   * package does not read it back. After a server restart it is missing and the file is read instead.
   */
  readonly #running = new RunningHashes();
  /** Bytes of chunks being written right now (of any upload): the free space they will take. */
  #writing = 0;

  constructor(
    private readonly repo: PackagesRepository,
    private readonly actions: ActionsRepository,
    private readonly lifecycle: ActionLifecycle,
    private readonly store: FileStore,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
    private readonly now: Clock,
    private readonly opts: { retentionDays: number; downloadUrlSeconds: number; urlKey: Buffer; maxPackageBytes: number; diskReserveBytes: number },
    /**
     * One request at a time per upload, on every node: a retried chunk racing its first try (maybe
     * on another node after a reconnect) must not write twice.
     */
    private readonly locks: Locks = new KeyedMutex(),
  ) {
    this.#urls = new DownloadUrls(opts.urlKey);
  }

  readonly #urls: DownloadUrls;

  /**
   * An agent may upload only for its own package action while that action is running and its
   * package is not complete.
   */
  async assertUploadable(machineId: string, actionId: string): Promise<ActionRow> {
    const action = await this.actions.get(actionId);
    if (!action || action.machine_id !== machineId || action.type !== 'CollectInvestigationPackage') throw new NotFoundError('Package upload', actionId);
    if (!['Pending', 'InProgress'].includes(action.status)) throw new ConflictError(`The action is ${action.status}; its package is no longer accepted`, 'ActionNotActive');
    if (await this.repo.get(actionId)) throw new ConflictError('This package is already complete', 'PackageComplete');
    return action;
  }

  /**
   * What the gateway asks before it reads a chunk's body, from the length the device declared:
   * the device may upload, the chunk keeps the package within `maxPackageBytes` (else the upload
   * is refused for good: 413, deleted, action failed) and there is room for it (else 507: later).
   */
  async admitChunk(machineId: string, actionId: string, offset: number, bytes: number): Promise<void> {
    const action = await this.assertUploadable(machineId, actionId);
    if (offset + bytes > this.opts.maxPackageBytes) return this.#serial(actionId, () => this.#refuseTooLarge(action));
    await this.#assertRoom(this.#writing + bytes);
  }

  /** Deletes an upload that went over the cap and fails its action. Called under the upload's #serial. */
  async #refuseTooLarge(action: ActionRow): Promise<never> {
    await this.store.discardPart(action.id);
    await this.store.remove(action.id);
    this.#running.forget(action.id);
    const message = `The package is larger than this server accepts (maxPackageBytes: ${this.opts.maxPackageBytes} bytes); it was refused and deleted`;
    await this.lifecycle.fail(action, message);
    throw new PayloadTooLargeError(message, 'PackageTooLarge');
  }

  /** Writing `bytes` more (every chunk being written now counted in) must leave the reserve free. */
  async #assertRoom(bytes: number): Promise<void> {
    const reserve = this.opts.diskReserveBytes;
    if (reserve === 0) return;
    const free = await this.store.freeBytes();
    if (free - bytes < reserve) {
      throw new InsufficientStorageError(`The server's disk is nearly full: ${mib(free)} MiB free, and diskReserveBytes keeps ${mib(reserve)} MiB free for the database; the agent will retry later`);
    }
  }

  #serial<T>(actionId: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.exclusive(`upload/${actionId}`, fn);
  }

  /** Where an interrupted upload resumes: the bytes already stored. */
  uploadOffset(machineId: string, actionId: string): Promise<{ offset: number; complete: boolean }> {
    return this.#serial(actionId, async () => {
      const done = await this.repo.get(actionId);
      if (done && done.machine_id === machineId) return { offset: Number(done.size), complete: true };
      await this.assertUploadable(machineId, actionId);
      return { offset: await this.store.partSize(actionId), complete: false };
    });
  }

  /** Appends one chunk at `offset`; a chunk whose hash does not match is refused and nothing is written. */
  async uploadChunk(machineId: string, actionId: string, offset: number, chunk: Buffer, sha256: string, turn?: () => Promise<void>): Promise<{ offset: number }> {
    // Checked before the upload's lock: the hash of the next chunk overlaps the write of the one before.
    if (!chunkMatches(chunk, sha256)) throw new BadRequestError('The chunk does not match its SHA-256 (corrupted in transit); send it again', 'x-chunk-sha256', 'ChunkHashMismatch');
    // A chunk sent ahead waits here (hashed, outside the lock) for the one before it.
    await turn?.();
    return this.#serial(actionId, () => this.#uploadChunk(machineId, actionId, offset, chunk));
  }

  async #uploadChunk(machineId: string, actionId: string, offset: number, chunk: Buffer): Promise<{ offset: number }> {
    const action = await this.assertUploadable(machineId, actionId);
    if (offset + chunk.length > this.opts.maxPackageBytes) return this.#refuseTooLarge(action);
    // Counted before the free space is asked for: chunks of other uploads checked meanwhile see it.
    this.#writing += chunk.length;
    try {
      await this.#assertRoom(this.#writing);
      const { written, end } = await this.store.append(actionId, offset, chunk);
      if (!written) throw new ConflictError(`The upload continues at offset ${end}, not ${offset}`, 'WrongOffset', String(end));
      this.#running.stored(actionId, offset, chunk);
      return { offset: end };
    } catch (e) {
      if (e instanceof StorageFullError) throw new InsufficientStorageError(`${e.message}; the agent will retry later`);
      throw e;
    } finally {
      this.#writing -= chunk.length;
    }
  }

  /**
   * Checks the whole file against the SHA-256 the agent computed while zipping, and that it is a
   * zip (its central directory readable), then keeps it. A file that is not a zip is what the device
   * meant to send, so sending it again will not help: it is deleted and the action fails saying why.
   */
  completeUpload(machineId: string, actionId: string, size: number, sha256: string): Promise<PackageView> {
    return this.#serial(actionId, () => this.#completeUpload(machineId, actionId, size, sha256));
  }

  async #completeUpload(machineId: string, actionId: string, size: number, sha256: string): Promise<PackageView> {
    const existing = await this.repo.get(actionId);
    if (existing && existing.machine_id === machineId) return view(existing);
    const action = await this.assertUploadable(machineId, actionId);
    if (size > this.opts.maxPackageBytes) return this.#refuseTooLarge(action);
    // A crash between keeping the file and recording it leaves the zip without its row: check that file.
    const kept = await this.store.hasZip(actionId);
    const running = this.#running.take(actionId, size);
    const got = running && !kept && (await this.store.partSize(actionId)) === size ? { sha256: running, size } : await this.store.sha256(actionId, kept ? 'zip' : 'part');
    if (got.size !== size || got.sha256 !== sha256.toLowerCase()) {
      if (kept) await this.store.remove(actionId);
      else await this.store.discardPart(actionId);
      throw new BadRequestError(`The stored package (${got.size} bytes, SHA-256 ${got.sha256}) does not match what was sent (${size} bytes, ${sha256}); upload it again from the start`, 'sha256', 'PackageHashMismatch');
    }
    const zip = await this.store.checkZip(actionId, kept ? 'zip' : 'part');
    if (!zip.zip) {
      if (kept) await this.store.remove(actionId);
      else await this.store.discardPart(actionId);
      const message = `The package is not a zip (${zip.reason}); it was refused and deleted`;
      await this.lifecycle.fail(action, message);
      throw new BadRequestError(message, undefined, 'PackageNotZip');
    }
    if (!kept) await this.store.finish(actionId);
    const now = this.now();
    const row = { action_id: actionId, machine_id: machineId, size, sha256: got.sha256, created_at: now.toISOString(), expires_at: new Date(now.getTime() + this.opts.retentionDays * 86400_000).toISOString(), deleted_at: null };
    await this.repo.insert(row);
    await this.timeline.add({ machineId, eventType: 'PackageAvailable', title: `Investigation package available (${(size / 1048576).toFixed(1)} MB)`, actionId, data: { size, sha256: got.sha256, expiresAt: row.expires_at } });
    return view(row);
  }

  /** MDE's GetPackageUri: a URL that works without a token until it expires; who asked is audited. */
  async packageUri(principal: Principal, actionId: string, baseUrl: string): Promise<{ value: string; expiresAt: string }> {
    const action = await this.actions.get(actionId);
    if (!action) throw new NotFoundError('Machine action', actionId);
    if (action.type !== 'CollectInvestigationPackage') throw new BadRequestError(`Action ${actionId} is ${action.type}; only CollectInvestigationPackage actions have a package`, 'id', 'InvalidInput');
    const row = await this.repo.get(actionId);
    if (!row) throw new NotFoundError('Package of action', actionId);
    if (row.deleted_at) throw new NotFoundError(`Package (removed at the end of its retention, ${row.deleted_at}) of action`, actionId);
    const url = new URL(`/api/packages/${actionId}/download`, baseUrl);
    // A package's subject is its action id alone (a live-response result's names more).
    const expiresAt = this.#urls.sign(url, actionId, this.now(), this.opts.downloadUrlSeconds).toISOString();
    await this.audit.record({ actor: principal.name, action: 'GetPackageUri', targetType: 'action', targetId: actionId, outcome: 'Succeeded', detail: { machineId: row.machine_id, expiresAt } });
    return { value: url.toString(), expiresAt };
  }

  /**
   * Opens a package for a signed URL; an expired or altered URL answers 401. `fileName` is what it
   * is saved as: the device's host name and when the package was completed, in UTC.
   */
  async download(actionId: string, expires: number, signature: string): Promise<{ stream: Readable; size: number; sha256: string; machineId: string; fileName: string }> {
    this.#urls.verify(actionId, expires, signature, this.now(), 'ask for a new one with GetPackageUri');
    const row = await this.repo.get(actionId);
    if (!row || row.deleted_at) throw new NotFoundError('Package of action', actionId);
    const action = await this.actions.get(actionId);
    const fileName = packageFileName(action?.computer_dns_name ?? row.machine_id, row.created_at);
    return { stream: this.store.read(actionId), size: Number(row.size), sha256: row.sha256, machineId: row.machine_id, fileName };
  }

  async ofMachine(machineId: string): Promise<PackageView[]> {
    return (await this.repo.ofMachine(machineId)).map(view);
  }

  /**
   * Retention: removes the files of packages whose time is up (the record stays, marked removed),
   * and unfinished uploads of actions that ended (cancelled, failed, timed out) an hour ago or more.
   */
  async sweepExpired(): Promise<number> {
    const now = this.now().toISOString();
    let n = 0;
    for (const part of await this.store.parts()) {
      if (this.now().getTime() - part.modifiedMs < 3600_000) continue;
      const action = await this.actions.get(part.id);
      if (action && ['Pending', 'InProgress'].includes(action.status)) continue;
      await this.#serial(part.id, () => this.store.discardPart(part.id));
      this.#running.forget(part.id);
      n++;
    }
    for (;;) {
      const batch = await this.repo.expired(now, 100);
      if (batch.length === 0) return n;
      for (const r of batch) {
        await this.store.remove(r.action_id);
        await this.repo.markDeleted(r.action_id, now);
        n++;
      }
    }
  }

}
