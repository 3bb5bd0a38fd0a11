import type { ActionType } from './actions.js';

// No schemas here, only words: the web console imports this module alone
// (`@cordon/protocol/labels`), so its bundle carries none of the protocol's zod code.

/** Each action as people name it (the seed console's labels): timeline titles and the console use these. */
export const ACTION_LABELS: Record<ActionType, string> = {
  Isolate: 'Isolate device',
  Unisolate: 'Release from isolation',
  CollectInvestigationPackage: 'Collect investigation package',
  RunAntiVirusScan: 'Run antivirus scan',
  RestrictCodeExecution: 'Restrict app execution',
  UnrestrictCodeExecution: 'Remove app restrictions',
  StopAndQuarantineFile: 'Stop and quarantine file',
  LiveResponse: 'Live response',
  Offboard: 'Offboard device',
  RefreshInventory: 'Refresh inventory',
};

/** An action type as people name it; a type this code does not know (from a newer version) as it is. */
export const actionLabel = (type: string): string => ACTION_LABELS[type as ActionType] ?? type;
