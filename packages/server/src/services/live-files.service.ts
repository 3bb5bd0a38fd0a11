import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { LIVE_GETFILE_MAX_BYTES, LIVE_UPLOAD_HEADERS } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import { BadRequestError, ConflictError, InsufficientStorageError, NotFoundError, PayloadTooLargeError } from '../errors.js';
import type { LiveFileRow, LiveResponseRepository } from '../repositories/live-response.repository.js';
import { StorageFullError, type FileStore } from '../storage/file-store.js';
import { chunkMatches, RunningHashes } from '../storage/running-hashes.js';
import type { ActionsRepository } from '../repositories/actions.repository.js';
import type { Locks } from './counters.js';
import { batchOf, getFilePath } from './live-batch.service.js';

export interface LiveFileView {
  id: string;
  sessionId: string;
  seq: number;
  machineId: string;
  path: string;
  size: number;
  sha256: string | null;
  status: 'Uploading' | 'Complete';
  createdAt: string;
  completedAt: string | null;
}

const view = (r: LiveFileRow): LiveFileView => ({ id: r.id, sessionId: r.session_id, seq: Number(r.seq), machineId: r.machine_id, path: r.path, size: Number(r.size), sha256: r.sha256, status: r.status === 'Complete' ? 'Complete' : 'Uploading', createdAt: r.created_at, completedAt: r.completed_at });

/**
 * Files live-response `getfile` sends: the agent uploads them like investigation packages (chunks
 * with their SHA-256, resumable from the server's offset, the whole checked at the end), each
 * request naming the running `getfile` line it answers. A transfer cut short (the agent restarted)
 * resumes when the same file is fetched again: its id comes from the file's identity.
 */
export class LiveFilesService {
  /** Each transfer's SHA-256 as its chunks arrive here (completion then reads nothing again). */
  readonly #running = new RunningHashes();

  constructor(
    private readonly repo: LiveResponseRepository,
    private readonly store: FileStore,
    private readonly locks: Locks,
    private readonly now: Clock,
    private readonly diskReserveBytes: number,
    private readonly actions: ActionsRepository,
  ) {}

  /**
   * Whether an upload request is a live-response file's (it names its line), and if so, checks that
   * the line is this device's running `getfile` and records the transfer (or moves it to this line).
   */
  async claim(machineId: string, transferId: string, headers: IncomingHttpHeaders): Promise<boolean> {
    const line = headers[LIVE_UPLOAD_HEADERS.line];
    if (line === undefined) return false;
    const m = /^([0-9a-f-]{36})\/([1-9][0-9]{0,6})$/.exec(String(line));
    const size = Number(headers[LIVE_UPLOAD_HEADERS.size]);
    const path = Buffer.from(String(headers[LIVE_UPLOAD_HEADERS.path] ?? ''), 'base64url').toString('utf8');
    if (!m || !Number.isSafeInteger(size) || size < 0 || !path.startsWith('/')) throw new BadRequestError('A live-response upload names its line (<session>/<seq>), its path and its size', LIVE_UPLOAD_HEADERS.line);
    if (size > LIVE_GETFILE_MAX_BYTES) throw new PayloadTooLargeError(`getfile sends at most ${LIVE_GETFILE_MAX_BYTES} bytes`, 'LiveFileTooLarge');
    const [, sessionId, seq] = m;
    const getfile = await this.#getfileLine(machineId, sessionId!, Number(seq), path);
    if (!getfile) throw new NotFoundError('Live response line', `${sessionId}/${seq}`);
    const existing = await this.repo.file(transferId);
    if (existing && existing.machine_id !== machineId) throw new NotFoundError('Live response file', transferId);
    if (existing?.status === 'Complete') return true;
    if (!getfile.running) throw new ConflictError(`Line ${seq} has ended (${getfile.status}); its file is no longer accepted`, 'CommandNotRunning');
    if (existing && (existing.path !== path || Number(existing.size) !== size)) throw new ConflictError('This transfer is for another file', 'TransferMismatch');
    await this.repo.claimFile({ id: transferId, machine_id: machineId, session_id: sessionId!, seq: Number(seq), path, size, sha256: null, status: 'Uploading', created_at: this.now().toISOString(), completed_at: null });
    return true;
  }

  /**
   * The getfile an upload names: a session's line (`<session>/<seq>`), or a batch's GetFile command
   * (`<action>/<index + 1>`) of this very path, running while its action does. Null when neither.
   */
  async #getfileLine(machineId: string, sessionId: string, seq: number, path: string): Promise<{ running: boolean; status: string } | null> {
    const cmd = await this.repo.command(sessionId, seq);
    if (cmd) return cmd.machine_id === machineId && cmd.command === 'getfile' ? { running: cmd.status === 'Running', status: cmd.status } : null;
    const action = await this.actions.get(sessionId);
    const batchCmd = action && action.machine_id === machineId ? batchOf(action)?.commands[seq - 1] : undefined;
    if (batchCmd?.type !== 'GetFile' || getFilePath(batchCmd) !== path) return null;
    return { running: action!.status === 'InProgress', status: action!.status };
  }

  async uploadOffset(machineId: string, id: string): Promise<{ offset: number; complete: boolean }> {
    return this.#serial(id, async () => {
      const f = await this.#own(machineId, id);
      return f.status === 'Complete' ? { offset: Number(f.size), complete: true } : { offset: await this.store.partSize(id), complete: false };
    });
  }

  async admitChunk(machineId: string, id: string, offset: number, bytes: number): Promise<void> {
    const f = await this.#uploading(machineId, id);
    if (offset + bytes > Number(f.size)) throw new BadRequestError(`The file is ${f.size} bytes; a chunk at ${offset} of ${bytes} bytes goes past its end`, 'offset');
    await this.#assertRoom(bytes);
  }

  async uploadChunk(machineId: string, id: string, offset: number, chunk: Buffer, sha256: string, turn?: () => Promise<void>): Promise<{ offset: number }> {
    // Checked before the upload's lock: the hash of the next chunk overlaps the write of the one before.
    if (!chunkMatches(chunk, sha256)) throw new BadRequestError('The chunk does not match its SHA-256 (corrupted in transit); send it again', 'x-chunk-sha256', 'ChunkHashMismatch');
    // A chunk sent ahead waits here (hashed, outside the lock) for the one before it.
    await turn?.();
    return this.#serial(id, async () => {
      const f = await this.#uploading(machineId, id);
      if (offset + chunk.length > Number(f.size)) throw new BadRequestError(`The file is ${f.size} bytes; a chunk at ${offset} of ${chunk.length} bytes goes past its end`, 'offset');
      await this.#assertRoom(chunk.length);
      try {
        const { written, end } = await this.store.append(id, offset, chunk);
        if (!written) throw new ConflictError(`The upload continues at offset ${end}, not ${offset}`, 'WrongOffset', String(end));
        this.#running.stored(id, offset, chunk);
        return { offset: end };
      } catch (e) {
        if (e instanceof StorageFullError) throw new InsufficientStorageError(`${e.message}; the agent will retry later`);
        throw e;
      }
    });
  }

  /** Checks the whole file against the size and SHA-256 the device computed, then keeps it. */
  completeUpload(machineId: string, id: string, size: number, sha256: string): Promise<LiveFileView> {
    return this.#serial(id, async () => {
      const f = await this.#own(machineId, id);
      if (f.status === 'Complete') return view(f);
      const running = this.#running.take(id, size);
      const got = running && (await this.store.partSize(id)) === size ? { sha256: running, size } : await this.store.sha256(id, 'part');
      if (got.size !== size || got.size !== Number(f.size) || got.sha256 !== sha256.toLowerCase()) {
        await this.store.discardPart(id);
        throw new BadRequestError(`The stored file (${got.size} bytes, SHA-256 ${got.sha256}) does not match what was sent (${size} bytes, ${sha256}); send it again from the start`, 'sha256', 'FileHashMismatch');
      }
      await this.store.finish(id);
      await this.repo.completeFile(id, got.sha256, this.now().toISOString());
      return view((await this.repo.file(id))!);
    });
  }

  async list(sessionId: string): Promise<LiveFileView[]> {
    return (await this.repo.files(sessionId)).map(view);
  }

  /** A complete file of a session, to download. */
  async download(sessionId: string, fileId: string): Promise<{ file: LiveFileView; stream: Readable }> {
    const f = await this.repo.file(fileId);
    if (!f || f.session_id !== sessionId) throw new NotFoundError('Live response file', fileId);
    if (f.status !== 'Complete') throw new ConflictError('The file is still being sent', 'FileNotComplete');
    return { file: view(f), stream: this.store.read(fileId) };
  }

  async #own(machineId: string, id: string): Promise<LiveFileRow> {
    const f = await this.repo.file(id);
    if (!f || f.machine_id !== machineId) throw new NotFoundError('Live response file', id);
    return f;
  }

  async #uploading(machineId: string, id: string): Promise<LiveFileRow> {
    const f = await this.#own(machineId, id);
    if (f.status === 'Complete') throw new ConflictError('This file is already complete', 'FileComplete');
    return f;
  }

  async #assertRoom(bytes: number): Promise<void> {
    if (this.diskReserveBytes === 0) return;
    const free = await this.store.freeBytes();
    if (free - bytes < this.diskReserveBytes) throw new InsufficientStorageError(`The server's disk is nearly full (${Math.floor(free / 1048576)} MiB free; diskReserveBytes keeps ${Math.floor(this.diskReserveBytes / 1048576)} MiB); the agent will retry later`);
  }

  #serial<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.locks.exclusive(`live-file/${id}`, fn);
  }
}
