import { z } from 'zod';
import { collectInvestigationPackage } from './collect-investigation-package.js';
import type { ActionSpec } from './define.js';
import { isolate } from './isolate.js';
import { liveResponse } from './live-response.js';
import { offboard } from './offboard.js';
import { refreshInventory } from './refresh-inventory.js';
import { restoreQuarantinedFile } from './restore-quarantined-file.js';
import { restrictCodeExecution } from './restrict-code-execution.js';
import { runAntiVirusScan } from './run-antivirus-scan.js';
import { stopAndQuarantineFile } from './stop-and-quarantine-file.js';
import { unisolate } from './unisolate.js';
import { unrestrictCodeExecution } from './unrestrict-code-execution.js';

export * from './define.js';
export { IsolationType } from './isolate.js';
export { ScanCpuPercent, ScanType } from './run-antivirus-scan.js';
export { FileSha1, FileSha256, QUARANTINE_EXCLUSION_KEY, QuarantinedFile, QuarantineId, QuarantinePath, StopAndQuarantineFileResult } from './stop-and-quarantine-file.js';
export { RestoreQuarantinedFileResult } from './restore-quarantined-file.js';
export { batchParam, LiveBatchCommandResult, LiveBatchParameters, LiveBatchResult, type LiveBatchCommand } from './live-response.js';

/**
 * The action catalog: every machine-action type (MDE names plus Cordon's own), each declared once
 * in its own file. A new action is a new file here plus its line below.
 */
const DECLARED = [
  isolate,
  unisolate,
  collectInvestigationPackage,
  runAntiVirusScan,
  restrictCodeExecution,
  unrestrictCodeExecution,
  stopAndQuarantineFile,
  restoreQuarantinedFile,
  liveResponse,
  offboard,
  refreshInventory,
] as const;

export type ActionType = (typeof DECLARED)[number]['type'];
export const ACTION_TYPES = DECLARED.map((a) => a.type) as [ActionType, ...ActionType[]];
export const ActionType = z.enum(ACTION_TYPES);

type Declared<T extends ActionType> = Extract<(typeof DECLARED)[number], { type: T }>;

/** Each action's agent parameters schema by type (derived), for agent code that runs one action. */
export const ActionParameters = Object.fromEntries(DECLARED.map((a) => [a.type, a.parameters])) as { [T in ActionType]: Declared<T>['parameters'] };

/** The catalog as the server, CLI and tests use it: lookups plus what is derived from each entry. */
export class ActionCatalog {
  readonly #byType: Map<string, ActionSpec>;

  constructor(readonly actions: readonly ActionSpec[]) {
    this.#byType = new Map(actions.map((a) => [a.type, a]));
    if (this.#byType.size !== actions.length) throw new Error('the action catalog declares a type twice');
    // The console and the CLI leave an extra out to keep the device's default: it must be optional.
    for (const a of actions) for (const e of a.extras ?? []) if (!a.body[e.field] || !z.safeParse(a.body[e.field]!, undefined).success) throw new Error(`${a.type}: its extra '${e.field}' must be an optional body field`);
  }

  /** A catalog with more actions (tests add a fake one). */
  with(...more: ActionSpec[]): ActionCatalog {
    return new ActionCatalog([...this.actions, ...more]);
  }

  get(type: string): ActionSpec | undefined {
    return this.#byType.get(type);
  }

  types(): string[] {
    return this.actions.map((a) => a.type);
  }

  /** The action as people name it; a type this code does not know (from a newer version) as it is. */
  label(type: string): string {
    return this.#byType.get(type)?.label ?? type;
  }

  exclusionKey(spec: ActionSpec): string {
    return spec.exclusionKey ?? spec.type;
  }

  /** The scope shown in the Action center (MDE: Full/Selective for isolation, Quick/Full for scans). */
  scope(spec: ActionSpec, parameters: Record<string, unknown>): string | null {
    return spec.option?.isScope ? String(parameters[spec.option.field]) : null;
  }

  /** The actions whose exclusion key is `key` (Isolate and Unisolate for 'Isolation'). */
  ofKey(key: string): ActionSpec[] {
    return this.actions.filter((a) => this.exclusionKey(a) === key);
  }
}

export const ACTION_CATALOG = new ActionCatalog(DECLARED);

export const ACTION_STATUSES = ['Pending', 'InProgress', 'Succeeded', 'Failed', 'TimeOut', 'Cancelled'] as const;
export const ActionStatus = z.enum(ACTION_STATUSES);
export type ActionStatus = z.infer<typeof ActionStatus>;
export const ACTIVE_STATUSES: readonly ActionStatus[] = ['Pending', 'InProgress'];

/** Compares dotted numeric versions ("0.10.1" > "0.9.9"); non-numeric parts count as 0. */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[.+-]/).map((p) => Number.parseInt(p, 10) || 0);
  const pb = b.split(/[.+-]/).map((p) => Number.parseInt(p, 10) || 0);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return Math.sign(d);
  }
  return 0;
}
