import type { ActionType, DeviceEventKind } from '@cordon/protocol';
import type { z } from 'zod';
import type { AgentModules } from '../modules/index.js';
import type { IndicatorSet } from '../content/indicators.js';
import type { LiveSessions } from '../live/sessions.js';
import type { Platform } from '../platform/types.js';
import type { ScanRules } from '../scan/rules.js';
import type { WalkRoots } from './collect-package/types.js';

/** What scans use: the agent's rules and indicators, its scan settings, and its event outbox for detections. */
export interface Scanning {
  rules: ScanRules;
  indicators: IndicatorSet;
  /** Journals an event (a detection) durably and sends it when connected: none is lost offline. */
  reportEvent(kind: DeviceEventKind, data: Record<string, unknown>): { eventId: string };
  settings: {
    cpuPercent: number;
    maxFileBytes: number;
    /** Read instead of the usual places, when set. */
    roots?: readonly string[];
    exclude: readonly string[];
    networkMounts: boolean;
    clamav: { mode: 'auto' | 'off'; databaseDir?: string; clamdSocket?: string };
  };
}

/** What an action may use while it runs: injected, so each action is unit-testable. */
export interface ActionContext {
  platform: Platform;
  /** A private temp directory, removed when the action ends. */
  tempDir: string;
  actionId: string;
  signal: AbortSignal;
  progress(percent: number, message?: string): void;
  /** Tells the server about a changed inventory right away. */
  sendInventory(): Promise<void>;
  /** The agent's modules (enforcements that outlive any one action), by name: `ctx.modules.isolation`. */
  modules: AgentModules;
  /** The agent's data directory (its config and logs, for the support logs of a package). */
  dataDir: string;
  /** Directories file listings walk instead of the usual ones (the agent's settings; tests point them at their own). */
  walkRoots?: WalkRoots;
  /** The action's CPU budget from its manifest (percent of one core), for actions that can pace themselves. */
  cpuPercent?: number;
  /** Scanning (absent in tests of other actions). */
  scanning?: Scanning;
  /** The agent's live-response sessions (absent in tests of other actions). */
  live?: LiveSessions;
  /** Streams a file for this action to the server (resumable, verified chunks). */
  upload(source: AsyncIterable<Buffer>, onProgress?: (bytes: number) => void): Promise<{ size: number; sha256: string; resumed: number }>;
}

/**
 * An action is data plus code: what it is, what capability it gives the agent, its parameters,
 * and its time and output budgets.
 */
export interface ActionManifest<P = Record<string, unknown>> {
  type: ActionType;
  /** The version of its capability this agent implements; the capability's name is the catalog's. */
  capabilityVersion: string;
  platforms: NodeJS.Platform[];
  parameters: z.ZodType<P>;
  timeoutMs: number;
  /** Largest result (JSON bytes) the action may report. */
  maxResultBytes: number;
  /**
   * How many commands of this type may run at once (default 4); more wait their turn, unacked.
   * 1 for actions that would compete with themselves for the device (a package reads everything).
   */
  concurrency?: number;
  /**
   * CPU the action should stay within, in percent of one core. Declared and passed in the
   * context only: the action paces itself (the scanner will); the runner does not enforce it.
   */
  cpuPercent?: number;
  /**
   * What this device brings to the capability: the tool that implements it, or why the device
   * cannot run the action even though the agent has the code (e.g. a tool is missing).
   */
  probe?(platform: Platform): Promise<{ provider?: string; unavailable?: string }>;
  run(params: P, ctx: ActionContext): Promise<Record<string, unknown>>;
}

/** An action that failed and still has a result to report (e.g. which of a batch's commands ran). */
export class FailedWithResult extends Error {
  constructor(
    message: string,
    readonly result: Record<string, unknown>,
  ) {
    super(message);
  }
}
