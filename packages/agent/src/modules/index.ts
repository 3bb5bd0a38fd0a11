import type { Logger } from 'pino';
import type { AgentDetection, DeviceEventKind } from '@cordon/protocol';
import type { AgentConfig } from '../config.js';
import type { IndicatorSet } from '../content/indicators.js';
import type { EnrollmentState } from '../enrollment-state.js';
import type { Platform } from '../platform/types.js';
import { rankServers } from '../transport/servers.js';
import { IndicatorBlocker } from './indicators/blocker.js';
import { IsolationManager } from './isolation/manager.js';
import { RestrictionManager } from './restriction/manager.js';
import type { AgentModule } from './types.js';

export type { AgentModule, ModuleReport } from './types.js';

/** What a module is built from: the agent's identity, settings and platform. */
export interface ModuleDeps {
  dataDir: string;
  platform: Platform;
  enrollment: EnrollmentState;
  config: Pick<AgentConfig, 'isolationConfirmSeconds' | 'isolationProbe'>;
  logger: Logger;
  /** The indicators in force (for the modules that enforce them). */
  indicators: IndicatorSet;
  /** Queues an event for the server (durably; sent when connected). */
  reportEvent: (kind: DeviceEventKind, data: AgentDetection) => void;
  /** A module's report changed between watchdog checks: the agent sends its inventory now. */
  reportChanged: () => void;
}

/**
 * Every module by name, typed: actions reach one as `ctx.modules.isolation` and get its own API.
 * A new module is one key here and one line in MODULES.
 */
export interface AgentModules {
  isolation: IsolationManager;
  indicatorBlocks: IndicatorBlocker;
  restriction: RestrictionManager;
}

const MODULES: { [K in keyof AgentModules]: (deps: ModuleDeps) => AgentModules[K] } = {
  isolation: (d) =>
    new IsolationManager({
      dataDir: d.dataDir,
      platform: d.platform,
      // Isolation keeps every node reachable (the home node first): an isolated agent must still be able to fail over.
      serverUrls: rankServers(d.enrollment.machineId, d.enrollment.serverUrls),
      caCertPem: d.enrollment.caCertPem,
      logger: d.logger.child({ part: 'isolation' }),
      confirmSeconds: d.config.isolationConfirmSeconds,
      forbiddenProbe: d.config.isolationProbe,
    }),
  indicatorBlocks: (d) =>
    new IndicatorBlocker({
      firewall: d.platform.indicatorFirewall,
      indicators: d.indicators,
      serverUrls: d.enrollment.serverUrls,
      reportEvent: d.reportEvent,
      logger: d.logger.child({ part: 'indicators' }),
    }),
  restriction: (d) =>
    new RestrictionManager({
      dataDir: d.dataDir,
      platform: d.platform,
      indicators: d.indicators,
      reportEvent: d.reportEvent,
      reportChanged: d.reportChanged,
      logger: d.logger.child({ part: 'restriction' }),
    }),
};

/** Builds every module (nothing is enforced yet: the agent calls `restore()` on each at start). */
export function createModules(deps: ModuleDeps): AgentModules {
  const out: Partial<Record<keyof AgentModules, AgentModule>> = {};
  for (const name of Object.keys(MODULES) as (keyof AgentModules)[]) out[name] = MODULES[name](deps);
  return out as AgentModules;
}

/** The modules in registry order, for the agent's life cycle (restore, watchdog, inventory, stop). */
export function moduleList(modules: AgentModules): AgentModule[] {
  return Object.values(modules);
}
