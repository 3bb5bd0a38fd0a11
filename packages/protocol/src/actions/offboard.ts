import { z } from 'zod';
import { defineAction } from './define.js';

export const offboard = defineAction({
  type: 'Offboard',
  label: 'Offboard device',
  verbPhrase: 'offboard',
  path: 'offboard',
  body: {},
  parameters: z.strictObject({}),
  capability: 'offboard',
  minAgentVersion: '0.2.0',
  permission: 'actions.submit',
  busy: 'This device is already being offboarded',
});
