import { z } from 'zod';
import { defineAction } from './define.js';

/** Cordon's own: the agent reports its inventory again (the first agent action). */
export const refreshInventory = defineAction({
  type: 'RefreshInventory',
  label: 'Refresh inventory',
  verbPhrase: 'report its inventory',
  path: 'refreshInventory',
  body: {},
  parameters: z.strictObject({}),
  capability: 'inventory',
  minAgentVersion: '0.1.0',
  permission: 'actions.submit',
  busy: 'An inventory refresh is already under way',
  cli: { verb: 'refresh', summary: "ask a machine's agent to report its inventory again" },
});
