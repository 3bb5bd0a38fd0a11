import { z } from 'zod';
import { defineAction } from './define.js';

const fileHashes = { sha256: z.string().regex(/^[0-9a-f]{64}$/i).optional(), sha1: z.string().regex(/^[0-9a-f]{40}$/i).optional() };

export const stopAndQuarantineFile = defineAction({
  type: 'StopAndQuarantineFile',
  label: 'Stop and quarantine file',
  verbPhrase: 'quarantine files',
  path: 'StopAndQuarantineFile',
  body: fileHashes,
  bodyRule: { check: (b) => Boolean(b.sha256 || b.sha1), message: 'send Sha256 or Sha1', field: 'sha256' },
  parameters: z.strictObject(fileHashes),
  capability: 'quarantine',
  minAgentVersion: '0.2.0',
  permission: 'actions.submit',
  busy: 'A file is already being stopped and quarantined on this device',
});
