import { z } from 'zod';
import { LibraryFileRef } from '../library.js';
import { LiveSessionParameters } from '../live-response.js';
import { defineAction } from './define.js';

/** One command of MDE's `runliveresponse` body: `{type, params: [{key, value}]}`. */
const BatchCommand = z.strictObject({ type: z.enum(['GetFile', 'PutFile', 'RunScript']), params: z.array(z.strictObject({ key: z.string().max(256), value: z.string().max(4096) })).max(32) });
const commands = { commands: z.array(BatchCommand).min(1).max(32) };
/** What the agent gets: each PutFile and RunScript with the library file the server resolved its name to. */
export const LiveBatchParameters = z.strictObject({ commands: z.array(BatchCommand.extend({ library: LibraryFileRef.optional() })).min(1).max(32) });
export type LiveBatchParameters = z.infer<typeof LiveBatchParameters>;
export type LiveBatchCommand = LiveBatchParameters['commands'][number];

/** A batch command's value for `key` (MDE's keys, matched without regard to case), or undefined. */
export function batchParam(command: { params: { key: string; value: string }[] }, key: string): string | undefined {
  return command.params.find((p) => p.key.toLowerCase() === key.toLowerCase())?.value;
}

/**
 * How each command of a batch went, as the agent reports it in the action's result. `Canceled`:
 * never run, because a command before it failed (MDE runs none after a failure) or the batch was stopped.
 */
export const LiveBatchCommandResult = z.object({
  index: z.number().int(),
  status: z.enum(['Completed', 'Failed', 'Canceled']),
  startTime: z.string().nullable(),
  endTime: z.string().nullable(),
  errors: z.array(z.string()),
  /**
   * RunScript: the script's exit status, its stdout (`output`) and its stderr (`errorOutput`: MDE's
   * script_errors), each cut to the result's budget. An older agent sent both streams in `output`.
   */
  exitCode: z.number().int().optional(),
  output: z.string().optional(),
  outputTruncated: z.boolean().optional(),
  errorOutput: z.string().optional(),
  errorOutputTruncated: z.boolean().optional(),
  /** GetFile: the transfer the file went up as (its id names the stored file). */
  getFile: z.object({ transferId: z.string(), path: z.string(), size: z.number(), sha256: z.string() }).optional(),
  /** PutFile: where the file was written on the device. */
  putFile: z.object({ path: z.string(), size: z.number(), sha256: z.string() }).optional(),
});
export type LiveBatchCommandResult = z.infer<typeof LiveBatchCommandResult>;
export const LiveBatchResult = z.object({ commands: z.array(LiveBatchCommandResult) });
export type LiveBatchResult = z.infer<typeof LiveBatchResult>;

/**
 * Live response. Its body is MDE's `runliveresponse`: a batch of commands. The same action type is
 * an interactive session (parameters `{session}`), opened by `POST /api/machines/{id}/liveResponseSessions`:
 * one live response per device at a time, whichever its form.
 */
export const liveResponse = defineAction({
  type: 'LiveResponse',
  label: 'Live response',
  verbPhrase: 'run live response commands',
  path: 'runliveresponse',
  body: commands,
  parameters: z.union([LiveBatchParameters, LiveSessionParameters]),
  capability: 'liveResponse',
  minAgentVersion: '0.2.0',
  permission: 'actions.submit',
  /** Ending a session (or stopping a batch) while it runs. */
  cancelWhileRunning: true,
  busy: 'Live response commands are already running on this device',
});
