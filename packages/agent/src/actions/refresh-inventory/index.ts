import { ActionParameters } from '@cordon/protocol';
import type { ActionManifest } from '../types.js';

/** Re-reads the device's inventory and reports it: the simplest round trip through the whole engine. */
export const refreshInventory: ActionManifest = {
  type: 'RefreshInventory',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.RefreshInventory,
  timeoutMs: 30_000,
  maxResultBytes: 64 * 1024,
  async run(_params, ctx) {
    const d = await ctx.platform.describe();
    await ctx.sendInventory();
    return { hostname: d.hostname, osVersion: d.osVersion, kernel: d.kernel, ipAddresses: d.ipAddresses.length };
  },
};
