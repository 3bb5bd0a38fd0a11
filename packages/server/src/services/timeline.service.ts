import type { Clock } from '../clock.js';
import type { EventHub } from '../events.js';
import type { NewTimelineEvent, TimelineRepository, TimelineRow } from '../repositories/timeline.repository.js';
import type { MachineActionView, TIMELINE_EVENT_TYPES, TimelineEventView } from '../api/schemas.js';

export type TimelineEventType = (typeof TIMELINE_EVENT_TYPES)[number];

export interface TimelineEvent {
  machineId: string;
  eventType: TimelineEventType;
  title: string;
  actor?: string | null;
  actionId?: string | null;
  data?: Record<string, unknown>;
}

export class TimelineService {
  constructor(private readonly repo: TimelineRepository, private readonly hub: EventHub, private readonly now: Clock) {}

  async add(e: TimelineEvent): Promise<void> {
    await this.repo.insert(this.row(e));
    this.published([e]);
  }

  /** The stored form of an event, for callers that write it inside their own transaction. */
  row(e: TimelineEvent, time = this.now().toISOString()): NewTimelineEvent {
    return { machine_id: e.machineId, time, event_type: e.eventType, title: e.title, actor: e.actor ?? null, action_id: e.actionId ?? null, data: e.data ? JSON.stringify(e.data) : null };
  }

  /** Tells live views about events once they are committed. */
  published(events: TimelineEvent[]): void {
    for (const e of events) this.hub.emit({ kind: 'timeline', machineId: e.machineId, eventType: e.eventType });
  }

  async list(machineId: string, opts: { top: number; skip: number; types?: string[]; from?: string; to?: string }): Promise<TimelineEventView[]> {
    return (await this.repo.list(machineId, opts)).map(toApi);
  }

  /** An action's state changes, oldest first: submitted (Pending), then each move, with who made it and their comment. */
  async stateChanges(actionId: string): Promise<ActionStateChange[]> {
    return (await this.repo.ofAction(actionId)).map((r) => {
      const data = (r.data ? JSON.parse(r.data) : {}) as { status?: string; comment?: string };
      const status = r.event_type === 'ActionSubmitted' ? 'Pending' : (data.status ?? 'Unknown');
      return { status, time: r.time, actor: r.actor, title: r.title, comment: typeof data.comment === 'string' ? data.comment : null };
    });
  }
}

export type ActionStateChange = NonNullable<MachineActionView['stateChanges']>[number];

function toApi(r: TimelineRow & { action_comment?: string | null }): TimelineEventView {
  return { id: r.id, machineId: r.machine_id, time: r.time, eventType: r.event_type, title: r.title, actor: r.actor, actionId: r.action_id, actionComment: r.action_comment ?? null, data: r.data ? (JSON.parse(r.data) as unknown) : null };
}
