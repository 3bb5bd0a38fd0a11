import { z } from 'zod';
import { defineAction } from './define.js';

/** A Linux triage zip with its summary report, uploaded to the server (`cordon package` also downloads it). */
export const collectInvestigationPackage = defineAction({
  type: 'CollectInvestigationPackage',
  label: 'Collect investigation package',
  verbPhrase: 'collect investigation packages',
  path: 'collectInvestigationPackage',
  body: {},
  parameters: z.strictObject({}),
  capability: 'investigationPackage',
  minAgentVersion: '0.2.0',
  permission: 'actions.submit',
  busy: 'A package is already being collected from this device',
  describe:
    'The agent gathers processes, network connections, users and sign-ins, persistence (services, cron, autostart), installed programs, logs, recently changed files and more into a zip with a summary report, and uploads it. Download it from the Action center or the timeline when it is done.',
  icon: 'package',
  barPosition: 40,
});
