import { ActionParameters, type RestoreQuarantinedFileResult } from '@cordon/protocol';
import { QuarantineVault } from '../../quarantine/vault.js';
import type { ActionManifest } from '../types.js';
import { probeQuarantine } from '../stop-and-quarantine-file/index.js';

/**
 * Puts a quarantined file back where it was, byte for byte, with its owner, mode and times; refused
 * (the action fails, saying why) when anything is at that path now or a folder on the way is a link.
 */
export const restoreQuarantinedFile: ActionManifest<{ quarantineId: string }> = {
  type: 'RestoreQuarantinedFile',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.RestoreQuarantinedFile,
  timeoutMs: 10 * 60_000,
  maxResultBytes: 16 * 1024,
  concurrency: 1,
  probe: probeQuarantine,
  async run(params, ctx): Promise<RestoreQuarantinedFileResult> {
    const vault = await QuarantineVault.open(ctx.dataDir);
    try {
      ctx.progress(10, 'restoring the file');
      const meta = await vault.restore(params.quarantineId);
      return { quarantineId: meta.quarantineId, path: meta.path, sha256: meta.sha256, restored: true };
    } finally {
      await vault.close();
    }
  },
};
