import { z } from 'zod';
import { defineAction } from './define.js';

export const unrestrictCodeExecution = defineAction({
  type: 'UnrestrictCodeExecution',
  label: 'Remove app restrictions',
  verbPhrase: 'remove app restrictions',
  path: 'unrestrictCodeExecution',
  body: {},
  parameters: z.strictObject({}),
  capability: 'executionControl',
  minAgentVersion: '0.2.0',
  exclusionKey: 'ExecutionControl',
  permission: 'actions.submit',
  busy: 'A removal of app restrictions is already under way',
  describe: 'Every program may start again on {device}.',
  reverses: 'RestrictCodeExecution',
  icon: 'shield-check',
  cli: { verb: 'unrestrict', summary: 'remove app restrictions from a machine: every program may start again' },
});
