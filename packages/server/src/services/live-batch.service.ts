import { posix } from 'node:path';
import { Readable } from 'node:stream';
import { batchParam, LiveBatchParameters, LiveBatchResult, parseCommandLine, type LiveBatchCommand } from '@cordon/protocol';
import type { MachineActionView } from '../api/schemas.js';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { BadRequestError, ConflictError, NotFoundError } from '../errors.js';
import type { ActionRow, ActionsRepository } from '../repositories/actions.repository.js';
import type { LibraryRepository } from '../repositories/library.repository.js';
import type { AuditService } from './audit.service.js';
import type { DownloadUrls } from './download-urls.js';
import type { LiveFilesService } from './live-files.service.js';

/** MDE's per-command view of a batch: `{index, startTime, endTime, commandStatus, errors, command}`. */
export interface LiveBatchCommandView {
  index: number;
  startTime: string | null;
  endTime: string | null;
  commandStatus: 'Created' | 'InProgress' | 'Completed' | 'Failed' | 'Canceled';
  errors: string[];
  command: { type: string; params: { key: string; value: string }[] };
}

/** A GetFile's Path as the agent resolves it (from `/`): what its upload names. */
export function getFilePath(cmd: { params: { key: string; value: string }[] }): string | null {
  const path = batchParam(cmd, 'Path');
  return path?.startsWith('/') ? posix.resolve('/', path) : null;
}

/** The batch a LiveResponse action is, or null (a session, or another action). */
export function batchOf(row: Pick<ActionRow, 'type' | 'parameters'>): LiveBatchParameters | null {
  if (row.type !== 'LiveResponse') return null;
  const p = LiveBatchParameters.safeParse(JSON.parse(row.parameters));
  return p.success ? p.data : null;
}

/**
 * MDE's batch live response (`POST /api/machines/{id}/runliveresponse`): each command is checked
 * and its library file resolved before anything is signed; the agent runs them in order as session
 * commands; each command's outcome shows in the action's `commands[]`, and
 * GetLiveResponseResultDownloadLink gives a short-lived URL to its result (a RunScript's output as
 * MDE's JSON, a GetFile's file as the device sent it).
 */
export class LiveBatchService {
  constructor(
    private readonly library: LibraryRepository,
    private readonly actions: ActionsRepository,
    private readonly files: LiveFilesService,
    private readonly audit: AuditService,
    private readonly urls: DownloadUrls,
    private readonly now: Clock,
    private readonly downloadUrlSeconds: number,
  ) {}

  /** The signed parameters of a batch: every command checked (a 400 names the first bad one), library names resolved. */
  async resolve(parameters: Record<string, unknown>): Promise<LiveBatchParameters> {
    const commands = (parameters as { commands: LiveBatchCommand[] }).commands;
    const out: LiveBatchCommand[] = [];
    for (const [i, cmd] of commands.entries()) {
      const bad = (message: string, code?: string) => new BadRequestError(`Commands[${i}] (${cmd.type}): ${message}`, `Commands[${i}]`, code);
      const keys = cmd.type === 'GetFile' ? ['Path'] : cmd.type === 'PutFile' ? ['FileName'] : ['ScriptName', 'Args'];
      const unknown = cmd.params.find((p) => !keys.some((k) => k.toLowerCase() === p.key.toLowerCase()));
      if (unknown) throw bad(`unknown parameter '${unknown.key}' (${cmd.type} takes ${keys.join(', ')})`);
      if (cmd.type === 'GetFile') {
        if (getFilePath(cmd) === null) throw bad('Path must be an absolute path on the device (/...)');
        out.push(cmd);
        continue;
      }
      const nameKey = cmd.type === 'PutFile' ? 'FileName' : 'ScriptName';
      const name = batchParam(cmd, nameKey);
      if (!name) throw bad(`${nameKey} is required: the name of a library file (GET /api/libraryfiles lists them)`);
      if (cmd.type === 'RunScript') {
        const args = parseCommandLine(batchParam(cmd, 'Args') ?? '');
        if ('error' in args) throw bad(`Args: ${args.error}`);
      }
      const file = await this.library.get(name);
      if (!file) throw bad(`'${name}' is not in the library (GET /api/libraryfiles lists it)`, 'LibraryFileNotFound');
      out.push({ ...cmd, library: { fileName: file.file_name, contentName: file.content_name, version: Number(file.content_version), sha256: file.sha256 } });
    }
    return { commands: out };
  }

  /** Fills `commands[]` of the batch actions among `views` from their results (MDE's shape). */
  decorate(views: MachineActionView[]): void {
    for (const v of views) {
      const p = LiveBatchParameters.safeParse(v.parameters);
      if (!p.success) continue;
      const result = LiveBatchResult.safeParse(v.result);
      const ended = !['Pending', 'InProgress'].includes(v.status);
      v.commands = p.data.commands.map((cmd, index): LiveBatchCommandView => {
        const command = { type: cmd.type, params: cmd.params };
        const r = result.success ? result.data.commands.find((c) => c.index === index) : undefined;
        if (r) return { index, startTime: r.startTime, endTime: r.endTime, commandStatus: r.status, errors: r.errors, command };
        // No result for it: not reached yet, or the action ended without one (cancelled, timed out, refused).
        const commandStatus = !ended ? (v.status === 'Pending' ? 'Created' : 'InProgress') : v.status === 'Cancelled' ? 'Canceled' : 'Failed';
        return { index, startTime: null, endTime: null, commandStatus, errors: ended ? [v.error ?? `The action ended (${v.status})`] : [], command };
      });
    }
  }

  /** MDE's GetLiveResponseResultDownloadLink: a URL that works without a token until it expires; who asked is audited. */
  async downloadLink(principal: Principal, actionId: string, index: number, baseUrl: string): Promise<{ value: string; expiresAt: string }> {
    const { row } = await this.#completed(actionId, index);
    const url = new URL(`/api/liveResponseResults/${actionId}/${index}/download`, baseUrl);
    const expiresAt = this.urls.sign(url, subject(actionId, index), this.now(), this.downloadUrlSeconds).toISOString();
    await this.audit.record({ actor: principal.name, action: 'GetLiveResponseResultDownloadLink', targetType: 'action', targetId: actionId, outcome: 'Succeeded', detail: { machineId: row.machine_id, index, expiresAt } });
    return { value: url.toString(), expiresAt };
  }

  /** A command's result for a signed URL: a RunScript's as MDE's JSON (stdout as script_output, stderr as script_errors), a GetFile's file as it was sent. */
  async download(actionId: string, index: number, expires: number, signature: string): Promise<{ stream: Readable; size: number; contentType: string; fileName: string; sha256?: string }> {
    this.urls.verify(subject(actionId, index), expires, signature, this.now(), 'ask for a new one with GetLiveResponseResultDownloadLink');
    const { cmd, result } = await this.#completed(actionId, index);
    if (cmd.type === 'RunScript') {
      const json = Buffer.from(
        JSON.stringify({
          script_name: batchParam(cmd, 'ScriptName'),
          exit_code: result.exitCode ?? null,
          script_output: result.output ?? '',
          script_errors: result.errorOutput ?? '',
          ...(result.outputTruncated ? { script_output_truncated: true } : {}),
          ...(result.errorOutputTruncated ? { script_errors_truncated: true } : {}),
        }),
      );
      return { stream: Readable.from([json]), size: json.length, contentType: 'application/json', fileName: `${actionId}-${index}.json` };
    }
    const f = await this.files.download(actionId, result.getFile!.transferId);
    const base = posix.basename(f.file.path).replace(/[^A-Za-z0-9._-]/g, '_') || 'file';
    return { stream: f.stream, size: f.file.size, contentType: 'application/octet-stream', fileName: base, ...(f.file.sha256 ? { sha256: f.file.sha256 } : {}) };
  }

  /** A batch command that completed and has a result to download (RunScript or GetFile). */
  async #completed(actionId: string, index: number) {
    const row = await this.actions.get(actionId);
    if (!row) throw new NotFoundError('Machine action', actionId);
    const batch = batchOf(row);
    if (!batch) throw new BadRequestError(`Action ${actionId} is not a live response batch (runliveresponse)`, 'id', 'InvalidInput');
    const cmd = batch.commands[index];
    if (!cmd) throw new NotFoundError(`Command ${index} of live response action`, actionId);
    if (cmd.type === 'PutFile') throw new BadRequestError(`Command ${index} is a PutFile: it has no result to download`, 'index', 'InvalidInput');
    const parsed = LiveBatchResult.safeParse(row.result ? JSON.parse(row.result) : null);
    const result = parsed.success ? parsed.data.commands.find((c) => c.index === index) : undefined;
    if (result?.status !== 'Completed') throw new ConflictError(`Command ${index} has not completed (${result?.status ?? row.status}): it has no result yet`, 'CommandNotCompleted');
    return { row, cmd, result };
  }
}

/** What a result's URL is signed for: never the same as a package's (its action id alone). */
const subject = (actionId: string, index: number) => `live-result/${actionId}/${index}`;
