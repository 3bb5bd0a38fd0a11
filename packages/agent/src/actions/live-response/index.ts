import { ActionParameters } from '@cordon/protocol';
import type { ActionManifest } from '../types.js';

/**
 * Live response. A session (`{session}`) stays open as long as this action runs: its lines arrive
 * as `liveCommand` frames, handled by the agent's LiveSessions, and the action ends with the
 * session (closed by the server, cancelled, or idle), reporting how many lines it answered.
 */
export const liveResponse: ActionManifest<ReturnType<typeof ActionParameters.LiveResponse.parse>> = {
  type: 'LiveResponse',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.LiveResponse,
  // A session ends on its idle time-out, not on this: a day is the most any session is kept.
  timeoutMs: 24 * 3600_000,
  maxResultBytes: 4 * 1024,
  // One live response per device at a time, as the server allows.
  concurrency: 1,
  async run(params, ctx) {
    if (!('session' in params)) throw new Error('Batch live response (runliveresponse) is not supported by this agent version yet');
    if (!ctx.live) throw new Error('This agent has no live response sessions');
    const { endReason, commands, failed } = await ctx.live.open(ctx.actionId, params.session, ctx.signal);
    return { endReason, commands, failed };
  },
};
