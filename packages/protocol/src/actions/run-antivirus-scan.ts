import { z } from 'zod';
import { defineAction } from './define.js';

export const ScanType = z.enum(['Quick', 'Full']);

export const runAntiVirusScan = defineAction({
  type: 'RunAntiVirusScan',
  label: 'Run antivirus scan',
  verbPhrase: 'scan',
  path: 'runAntiVirusScan',
  body: { scanType: ScanType },
  parameters: z.strictObject({ scanType: ScanType }),
  option: {
    field: 'scanType',
    label: 'Scan type',
    values: ScanType.options,
    default: 'Quick',
    item: '{value} scan',
    isScope: true,
    describe: { Quick: 'A quick scan of the places malware usually lives on {device}.', Full: 'A full scan of every local file system on {device}.' },
  },
  capability: 'antivirusScan',
  minAgentVersion: '0.2.0',
  permission: 'actions.submit',
  busy: 'A scan is already running on this device',
  icon: 'virus-search',
  barPosition: 50,
});
