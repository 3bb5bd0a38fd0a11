import { z } from 'zod';
import { defineAction } from './define.js';
import { QUARANTINE_EXCLUSION_KEY, QuarantineId } from './stop-and-quarantine-file.js';

/** What RestoreQuarantinedFile reports: the file is back where it was, byte for byte. */
export const RestoreQuarantinedFileResult = z.object({ quarantineId: QuarantineId, path: z.string(), sha256: z.string(), restored: z.literal(true) });
export type RestoreQuarantinedFileResult = z.infer<typeof RestoreQuarantinedFileResult>;

/**
 * Cordon: puts a quarantined file back where it was, with its bytes, owner, mode and times. Not a
 * `reverses` pair with StopAndQuarantineFile: that one is about a hash, this one about one vault
 * item, and a device holds many; the device page has no on/off state to show for them.
 */
export const restoreQuarantinedFile = defineAction({
  type: 'RestoreQuarantinedFile',
  label: 'Restore quarantined file',
  verbPhrase: 'restore quarantined files',
  path: 'restoreQuarantinedFile',
  body: { quarantineId: QuarantineId },
  parameters: z.strictObject({ quarantineId: QuarantineId }),
  capability: 'quarantine',
  minAgentVersion: '0.2.0',
  exclusionKey: QUARANTINE_EXCLUSION_KEY,
  permission: 'actions.submit',
  busy: 'A file is already being quarantined or restored on this device',
  describe: 'The agent on {device} puts the file back where it was, byte for byte, with its owner, permissions and times. It refuses when another file is there now.',
});
