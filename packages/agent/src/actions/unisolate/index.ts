import { ActionParameters } from '@cordon/protocol';
import { probeIsolation } from '../isolate/index.js';
import type { ActionManifest } from '../types.js';

/** Release from isolation: removes exactly Cordon's nftables table, nothing else of the host's firewall. */
export const unisolate: ActionManifest = {
  type: 'Unisolate',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.Unisolate,
  timeoutMs: 60_000,
  maxResultBytes: 16 * 1024,
  probe: probeIsolation,
  async run(_params, ctx) {
    const result = await ctx.modules.isolation.release('action');
    await ctx.sendInventory();
    return { ...result, isolation: ctx.modules.isolation.status() };
  },
};
