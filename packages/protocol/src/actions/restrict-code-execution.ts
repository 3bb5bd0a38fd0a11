import { z } from 'zod';
import { defineAction } from './define.js';

export const restrictCodeExecution = defineAction({
  type: 'RestrictCodeExecution',
  label: 'Restrict app execution',
  verbPhrase: 'restrict app execution',
  path: 'restrictCodeExecution',
  body: {},
  parameters: z.strictObject({}),
  capability: 'executionControl',
  minAgentVersion: '0.2.0',
  exclusionKey: 'ExecutionControl',
  permission: 'actions.submit',
  busy: 'A restriction of app execution is already under way',
  describe: 'Only programs allowed by the execution policy may start on {device}; Cordon keeps working.',
  icon: 'shield-check',
  barPosition: 60,
  cli: { verb: 'restrict', summary: 'let only trusted programs (package-owned or allowed by hash) start on a machine' },
});
