import { insertMany } from '../db/portable.js';
import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { TimelineTable } from '../db/schema.js';

export type TimelineRow = Selectable<TimelineTable>;
/** A timeline event as services build it, to be stored alone or inside another write's transaction. */
export type NewTimelineEvent = Insertable<TimelineTable>;

export class TimelineRepository {
  constructor(private readonly db: Db) {}

  async insert(row: NewTimelineEvent): Promise<void> {
    await this.db.insertInto('timeline').values(row).execute();
  }

  async insertMany(rows: NewTimelineEvent[]): Promise<void> {
    await insertMany(this.db, 'timeline', rows as unknown as Record<string, unknown>[]);
  }

  /** A device's events, newest first; an action's events carry the action's comment (the analyst's reason). */
  async list(machineId: string, opts: { top: number; skip: number; types?: string[]; from?: string; to?: string }): Promise<(TimelineRow & { action_comment: string | null })[]> {
    let q = this.db
      .selectFrom('timeline')
      .leftJoin('actions', 'actions.id', 'timeline.action_id')
      .selectAll('timeline')
      .select('actions.requestor_comment as action_comment')
      .where('timeline.machine_id', '=', machineId);
    if (opts.types?.length) q = q.where('timeline.event_type', 'in', opts.types);
    if (opts.from) q = q.where('timeline.time', '>=', opts.from);
    if (opts.to) q = q.where('timeline.time', '<=', opts.to);
    return q.orderBy('timeline.time', 'desc').orderBy('timeline.id', 'desc').limit(opts.top).offset(opts.skip).execute();
  }

  /** An action's own events (submitted, then each state change), oldest first. */
  async ofAction(actionId: string): Promise<TimelineRow[]> {
    return this.db
      .selectFrom('timeline')
      .selectAll()
      .where('action_id', '=', actionId)
      .where('event_type', 'in', ['ActionSubmitted', 'ActionStateChanged'])
      .orderBy('time')
      .orderBy('id')
      .execute();
  }
}
