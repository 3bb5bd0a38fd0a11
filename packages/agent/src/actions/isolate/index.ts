import { ActionParameters } from '@cordon/protocol';
import type { Platform } from '../../platform/types.js';
import type { ActionManifest } from '../types.js';

/** Whether nftables is here and usable, and which version; shared by Isolate and Unisolate (one capability). */
export async function probeIsolation(platform: Platform): Promise<{ provider?: string; unavailable?: string }> {
  const check = await platform.firewall.check();
  return check.ok ? { provider: `nftables ${check.version}` } : { unavailable: check.reason };
}

/**
 * Cuts the device off the network except for the Cordon server (and, when Selective, what the
 * policy allows). The server must answer over the isolated network within the confirm window,
 * or the rules are rolled back and the action fails with the reason.
 */
export const isolate: ActionManifest<ReturnType<typeof ActionParameters.Isolate.parse>> = {
  type: 'Isolate',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.Isolate,
  // The confirm window (30 s by default) plus resolving names and notifying users.
  timeoutMs: 120_000,
  maxResultBytes: 64 * 1024,
  probe: probeIsolation,
  async run(params, ctx) {
    ctx.progress(10, `applying ${params.isolationType} isolation`);
    const result = await ctx.modules.isolation.isolate(params.isolationType, params.allow ?? [], ctx.actionId, ctx.signal);
    await ctx.sendInventory();
    return { ...result, isolation: ctx.modules.isolation.status() };
  },
};
