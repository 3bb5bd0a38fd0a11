import type { ActionType } from '@cordon/protocol';
import { collectInvestigationPackage } from './collect-package/index.js';
import { isolate } from './isolate/index.js';
import { liveResponse } from './live-response/index.js';
import { refreshInventory } from './refresh-inventory/index.js';
import { restrictCodeExecution } from './restrict-code-execution/index.js';
import { restoreQuarantinedFile } from './restore-quarantined-file/index.js';
import { runAntiVirusScan } from './run-antivirus-scan/index.js';
import { stopAndQuarantineFile } from './stop-and-quarantine-file/index.js';
import { unisolate } from './unisolate/index.js';
import { unrestrictCodeExecution } from './unrestrict-code-execution/index.js';
import type { ActionManifest } from './types.js';

/** Every action this agent can run; their capabilities are what it reports to the server. */
export const ACTIONS: ActionManifest[] = [
  refreshInventory as ActionManifest,
  isolate as ActionManifest,
  unisolate as ActionManifest,
  collectInvestigationPackage,
  runAntiVirusScan as ActionManifest,
  stopAndQuarantineFile as ActionManifest,
  restoreQuarantinedFile as ActionManifest,
  liveResponse as ActionManifest,
  restrictCodeExecution as ActionManifest,
  unrestrictCodeExecution as ActionManifest,
];

export function actionsFor(platform: NodeJS.Platform): Map<ActionType, ActionManifest> {
  return new Map(ACTIONS.filter((a) => a.platforms.includes(platform)).map((a) => [a.type, a]));
}
