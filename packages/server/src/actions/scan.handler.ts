import type { ActionSpec } from '@cordon/protocol';
import type { MachineActionView } from '../api/schemas.js';
import type { ApiError } from '../errors.js';
import type { Eligibility } from '../services/machines.service.js';
import type { ScanPolicyService } from '../services/scan-policy.service.js';
import type { ActionHandler, ResolvedParameters } from './types.js';

/** Finds the alert each agent event became (implemented by AlertsService). */
export interface AgentEventAlerts {
  /** The id of the alert each event became, in the order asked; null while there is none (yet). */
  alertIdsOfAgentEvents(events: { machineId: string; eventId: string }[]): Promise<(string | null)[]>;
}

/**
 * Run antivirus scan: a scan that gives no CPU share gets its device's from the scan policies, and
 * each detection its result lists links to the alert it became. The links are looked up when the
 * action is read, not stored with the result: detections travel as events, which may reach the
 * server after the result (an agent that was offline sends its journal later).
 */
export class ScanHandler implements ActionHandler {
  readonly types = ['RunAntiVirusScan'] as const;

  constructor(
    private readonly policies: Pick<ScanPolicyService, 'cpuPercentsOf'>,
    private readonly alerts: AgentEventAlerts,
  ) {}

  async resolveParameters(_spec: ActionSpec, parameters: Record<string, unknown>, machines: Eligibility[]): Promise<ResolvedParameters> {
    const params = new Map<string, Record<string, unknown>>();
    const refused = new Map<string, ApiError>();
    if (parameters.cpuPercent !== undefined) {
      for (const m of machines) params.set(m.id, parameters);
      return { params, refused };
    }
    const shares = await this.policies.cpuPercentsOf(machines.map((m) => m.id));
    // Machines with the same share share one parameters object (one JSON text in the engine).
    const shared = new Map<number, Record<string, unknown>>();
    for (const m of machines) {
      const share = shares.get(m.id);
      if (share === undefined) {
        params.set(m.id, parameters);
        continue;
      }
      let p = shared.get(share);
      if (!p) shared.set(share, (p = { ...parameters, cpuPercent: share }));
      params.set(m.id, p);
    }
    return { params, refused };
  }

  async decorate(views: MachineActionView[]): Promise<void> {
    const asked: { entry: Record<string, unknown>; machineId: string; eventId: string }[] = [];
    for (const v of views) {
      const list = v.result?.detectionList;
      if (!Array.isArray(list)) continue;
      for (const entry of list as unknown[]) {
        if (entry && typeof entry === 'object' && typeof (entry as { eventId?: unknown }).eventId === 'string') {
          asked.push({ entry: entry as Record<string, unknown>, machineId: v.machineId, eventId: (entry as { eventId: string }).eventId });
        }
      }
    }
    if (asked.length === 0) return;
    const ids = await this.alerts.alertIdsOfAgentEvents(asked.map(({ machineId, eventId }) => ({ machineId, eventId })));
    asked.forEach((a, i) => (a.entry.alertId = ids[i] ?? null));
  }
}
