import { z } from 'zod';
import { defineAction } from './define.js';

/** Removes Cordon's firewall rules from an isolated device. */
export const unisolate = defineAction({
  type: 'Unisolate',
  label: 'Release from isolation',
  verbPhrase: 'release from isolation',
  path: 'unisolate',
  body: {},
  parameters: z.strictObject({}),
  capability: 'isolation',
  minAgentVersion: '0.2.0',
  exclusionKey: 'Isolation',
  permission: 'actions.submit',
  busy: 'A release of this device is already under way',
  describe: "Cordon removes its firewall rules from {device}; the device's own firewall stays as it was.",
  reverses: 'Isolate',
  icon: 'lock-open',
  cli: { verb: 'release', summary: 'release a machine from isolation' },
});
