import { ActionParameters } from '@cordon/protocol';
import { probeExecutionControl } from '../restrict-code-execution/index.js';
import type { ActionManifest } from '../types.js';

/** Lifts the restriction: the guard stops, so the kernel lets every program start again. */
export const unrestrictCodeExecution: ActionManifest<ReturnType<typeof ActionParameters.UnrestrictCodeExecution.parse>> = {
  type: 'UnrestrictCodeExecution',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.UnrestrictCodeExecution,
  timeoutMs: 60_000,
  maxResultBytes: 4 * 1024,
  concurrency: 1,
  probe: () => probeExecutionControl(),
  async run(_params, ctx) {
    const result = await ctx.modules.restriction.unrestrict();
    await ctx.sendInventory();
    return { ...result };
  },
};
