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

  async list(machineId: string, opts: { top: number; skip: number; types?: string[]; from?: string; to?: string }): Promise<TimelineRow[]> {
    let q = this.db.selectFrom('timeline').selectAll().where('machine_id', '=', machineId);
    if (opts.types?.length) q = q.where('event_type', 'in', opts.types);
    if (opts.from) q = q.where('time', '>=', opts.from);
    if (opts.to) q = q.where('time', '<=', opts.to);
    return q.orderBy('time', 'desc').orderBy('id', 'desc').limit(opts.top).offset(opts.skip).execute();
  }
}
