import { z } from 'zod';
import { defineAction } from './define.js';

export const ScanType = z.enum(['Quick', 'Full']);

/** Cordon: the share of the device's CPU the scan may use, in percent (default: its device group's, else 50). */
export const ScanCpuPercent = z.number().int().min(5, 'must be 5 to 100 (percent of the device\'s CPU)').max(100, 'must be 5 to 100 (percent of the device\'s CPU)');

export const runAntiVirusScan = defineAction({
  type: 'RunAntiVirusScan',
  label: 'Run antivirus scan',
  verbPhrase: 'scan',
  path: 'runAntiVirusScan',
  body: { scanType: ScanType, cpuPercent: ScanCpuPercent.optional() },
  parameters: z.strictObject({ scanType: ScanType, cpuPercent: ScanCpuPercent.optional() }),
  option: {
    field: 'scanType',
    label: 'Scan type',
    values: ScanType.options,
    default: 'Quick',
    item: '{value} scan',
    isScope: true,
    describe: { Quick: 'A quick scan of the places malware usually lives on {device}.', Full: 'A full scan of every local file system on {device}.' },
  },
  extras: [
    {
      field: 'cpuPercent',
      label: 'CPU share (%)',
      describe: "The most of the device's CPU (all cores together) the scan may use, in percent (5 to 100). Without it, the device's default applies: its group's, else 50%.",
      min: 5,
      max: 100,
      flag: 'cpu',
    },
  ],
  capability: 'antivirusScan',
  minAgentVersion: '0.2.0',
  permission: 'actions.submit',
  cancelWhileRunning: true,
  busy: 'A scan is already running on this device',
  icon: 'virus-search',
  barPosition: 50,
  cli: { verb: 'scan', summary: 'run an antivirus scan on a machine (Quick or Full); --wait shows its progress and then what it found', waitMinutes: 24 * 60 },
});
