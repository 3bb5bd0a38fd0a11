import type { MachineActionView } from '../api/schemas.js';
import type { ActionHandler } from './types.js';

/** Finds the alert each agent event became (implemented by AlertsService). */
export interface AgentEventAlerts {
  /** The id of the alert each event became, in the order asked; null while there is none (yet). */
  alertIdsOfAgentEvents(events: { machineId: string; eventId: string }[]): Promise<(string | null)[]>;
}

/**
 * Run antivirus scan: each detection its result lists links to the alert it became. Looked up when
 * the action is read, not stored with the result: detections travel as events, which may reach the
 * server after the result (an agent that was offline sends its journal later).
 */
export class ScanHandler implements ActionHandler {
  readonly types = ['RunAntiVirusScan'] as const;

  constructor(private readonly alerts: AgentEventAlerts) {}

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
