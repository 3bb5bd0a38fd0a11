import { z } from 'zod';
import { AllowList } from './isolation.js';

/** Every machine-action type of the public API (MDE names) plus Cordon's own. */
export const ACTION_TYPES = [
  'Isolate',
  'Unisolate',
  'CollectInvestigationPackage',
  'RunAntiVirusScan',
  'RestrictCodeExecution',
  'UnrestrictCodeExecution',
  'StopAndQuarantineFile',
  'LiveResponse',
  'Offboard',
  'RefreshInventory',
] as const;
export const ActionType = z.enum(ACTION_TYPES);
export type ActionType = z.infer<typeof ActionType>;

export const ACTION_STATUSES = ['Pending', 'InProgress', 'Succeeded', 'Failed', 'TimeOut', 'Cancelled'] as const;
export const ActionStatus = z.enum(ACTION_STATUSES);
export type ActionStatus = z.infer<typeof ActionStatus>;
export const ACTIVE_STATUSES: readonly ActionStatus[] = ['Pending', 'InProgress'];

export const IsolationType = z.enum(['Full', 'Selective']);
export const ScanType = z.enum(['Quick', 'Full']);

/** Parameters each action type carries to the agent (already normalised to camelCase). */
export const ActionParameters = {
  /** `allow` is the selective policy in force for this device, resolved by the server at submission. */
  Isolate: z.strictObject({ isolationType: IsolationType, allow: AllowList.optional() }),
  Unisolate: z.strictObject({}),
  CollectInvestigationPackage: z.strictObject({}),
  RunAntiVirusScan: z.strictObject({ scanType: ScanType }),
  RestrictCodeExecution: z.strictObject({}),
  UnrestrictCodeExecution: z.strictObject({}),
  StopAndQuarantineFile: z.strictObject({ sha256: z.string().regex(/^[0-9a-f]{64}$/i).optional(), sha1: z.string().regex(/^[0-9a-f]{40}$/i).optional() }),
  LiveResponse: z.strictObject({
    commands: z.array(z.strictObject({ type: z.enum(['GetFile', 'PutFile', 'RunScript']), params: z.array(z.strictObject({ key: z.string().max(256), value: z.string().max(4096) })).max(32) })).min(1).max(32),
  }),
  Offboard: z.strictObject({}),
  RefreshInventory: z.strictObject({}),
} satisfies Record<ActionType, z.ZodType>;

/**
 * What an agent must report before an action is offered to it: the capability name and the
 * lowest agent version that implements it. Submitting to an agent without it answers NotSupported.
 */
export const ACTION_REQUIREMENTS: Record<ActionType, { capability: string; minAgentVersion: string }> = {
  Isolate: { capability: 'isolation', minAgentVersion: '0.2.0' },
  Unisolate: { capability: 'isolation', minAgentVersion: '0.2.0' },
  CollectInvestigationPackage: { capability: 'investigationPackage', minAgentVersion: '0.2.0' },
  RunAntiVirusScan: { capability: 'antivirusScan', minAgentVersion: '0.2.0' },
  RestrictCodeExecution: { capability: 'executionControl', minAgentVersion: '0.2.0' },
  UnrestrictCodeExecution: { capability: 'executionControl', minAgentVersion: '0.2.0' },
  StopAndQuarantineFile: { capability: 'quarantine', minAgentVersion: '0.2.0' },
  LiveResponse: { capability: 'liveResponse', minAgentVersion: '0.2.0' },
  Offboard: { capability: 'offboard', minAgentVersion: '0.2.0' },
  RefreshInventory: { capability: 'inventory', minAgentVersion: '0.1.0' },
};

/**
 * Actions that undo each other share one key: at most one action per key is active on a machine
 * (isolate while a release is in flight is as ambiguous as two isolations).
 */
export function actionExclusionKey(type: ActionType): string {
  if (type === 'Isolate' || type === 'Unisolate') return 'Isolation';
  if (type === 'RestrictCodeExecution' || type === 'UnrestrictCodeExecution') return 'ExecutionControl';
  return type;
}

/** The scope shown for an action (MDE: Full/Selective for isolation, Quick/Full for scans). */
export function actionScope(type: ActionType, params: Record<string, unknown>): string | null {
  if (type === 'Isolate') return String(params.isolationType);
  if (type === 'RunAntiVirusScan') return String(params.scanType);
  return null;
}

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
