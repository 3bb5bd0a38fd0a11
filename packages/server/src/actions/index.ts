import type { Clock } from '../clock.js';
import type { EventHub } from '../events.js';
import type { MachinesRepository } from '../repositories/machines.repository.js';
import type { QuarantineRepository } from '../repositories/quarantine.repository.js';
import type { Transactor } from '../repositories/transactor.js';
import type { AuditService } from '../services/audit.service.js';
import type { ScanPolicyService } from '../services/scan-policy.service.js';
import type { TimelineService } from '../services/timeline.service.js';
import { IsolationHandler, type AllowListResolver } from './isolation.handler.js';
import type { LiveResponseHandler } from './live-response.handler.js';
import { QuarantineHandler } from './quarantine.handler.js';
import { RestrictionHandler } from './restriction.handler.js';
import { ScanHandler, type AgentEventAlerts } from './scan.handler.js';
import { ActionHandlers } from './types.js';

export { ActionHandlers, type ActionHandler, type ResolvedParameters } from './types.js';
export type { AllowListResolver } from './isolation.handler.js';
export type { AgentEventAlerts } from './scan.handler.js';
export { LiveResponseHandler } from './live-response.handler.js';

/** Every action handler of this server; an action without one needs nothing beyond the engine. */
export function createActionHandlers(deps: {
  machines: MachinesRepository;
  tx: Transactor;
  timeline: TimelineService;
  audit: AuditService;
  hub: EventHub;
  allowLists: AllowListResolver;
  scanPolicies: Pick<ScanPolicyService, 'cpuPercentsOf'>;
  alerts: AgentEventAlerts;
  now: Clock;
  quarantine: QuarantineRepository;
  live?: LiveResponseHandler;
}): ActionHandlers {
  return new ActionHandlers([
    new IsolationHandler(deps.machines, deps.tx, deps.timeline, deps.audit, deps.hub, deps.allowLists, deps.now),
    new RestrictionHandler(deps.machines, deps.timeline, deps.hub, deps.now),
    new ScanHandler(deps.scanPolicies, deps.alerts),
    new QuarantineHandler(deps.quarantine, deps.now),
    ...(deps.live ? [deps.live] : []),
  ]);
}
