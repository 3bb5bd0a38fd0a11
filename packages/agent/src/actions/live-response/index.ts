import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ActionParameters } from '@cordon/protocol';
import { runBatch } from '../../live/batch.js';
import { FailedWithResult, type ActionManifest } from '../types.js';

/**
 * Live response. A session (`{session}`) stays open as long as this action runs: its lines arrive
 * as `liveCommand` frames, handled by the agent's LiveSessions, and the action ends with the
 * session (closed by the server, cancelled, or idle), reporting how many lines it answered.
 * A batch (`{commands}`, MDE's runliveresponse) runs its commands in order in a shell of its own,
 * in the agent's live-response downloads directory, and reports each command's outcome.
 */
export const liveResponse: ActionManifest<ReturnType<typeof ActionParameters.LiveResponse.parse>> = {
  type: 'LiveResponse',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.LiveResponse,
  // A session ends on its idle time-out, not on this: a day is the most any session is kept.
  timeoutMs: 24 * 3600_000,
  // A batch's result holds its scripts' output (see BATCH_OUTPUT_BUDGET).
  maxResultBytes: 1024 * 1024,
  // One live response per device at a time, as the server allows.
  concurrency: 1,
  async run(params, ctx) {
    if (!ctx.live) throw new Error('This agent has no live response sessions');
    if ('commands' in params) {
      // Where PutFile writes and RunScript runs, as MDE's downloads folder; only the agent's user reads it.
      const workDir = join(ctx.dataDir, 'live-response', 'downloads');
      await mkdir(workDir, { recursive: true, mode: 0o700 });
      const shell = ctx.live.batchShell('advanced');
      try {
        const result = await runBatch(shell, ctx.actionId, params.commands, workDir, ctx.signal);
        const failed = result.commands.find((c) => c.status === 'Failed');
        // The action fails with its first failed command; its result still says how each went.
        if (failed) throw new FailedWithResult(`Command ${failed.index} (${params.commands[failed.index]!.type}) failed: ${failed.errors[0] ?? ''}`, result);
        return result;
      } finally {
        shell.close();
      }
    }
    const { endReason, commands, failed } = await ctx.live.open(ctx.actionId, params.session, ctx.signal);
    return { endReason, commands, failed };
  },
};
