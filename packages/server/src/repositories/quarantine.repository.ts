import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { QuarantinedFilesTable } from '../db/schema.js';

export type QuarantinedFileRow = Selectable<QuarantinedFilesTable>;
export type NewQuarantinedFile = Omit<Insertable<QuarantinedFilesTable>, 'restored_at' | 'restored_by' | 'restore_action_id'>;

/** Each device's quarantined files, as its agent reported them. */
export class QuarantineRepository {
  constructor(private readonly db: Db) {}

  /** Stores what a result reported; an item stored already (the same result handled twice) is kept as it is. */
  async insertMany(rows: NewQuarantinedFile[]): Promise<void> {
    if (rows.length === 0) return;
    await this.db
      .insertInto('quarantined_files')
      .values(rows)
      .onConflict((oc) => oc.columns(['machine_id', 'quarantine_id']).doNothing())
      .execute();
  }

  /** A machine's quarantined files, newest first. */
  async ofMachine(machineId: string): Promise<QuarantinedFileRow[]> {
    return this.db.selectFrom('quarantined_files').selectAll().where('machine_id', '=', machineId).orderBy('quarantined_at', 'desc').orderBy('quarantine_id').execute();
  }

  async get(machineId: string, quarantineId: string): Promise<QuarantinedFileRow | undefined> {
    return this.db.selectFrom('quarantined_files').selectAll().where('machine_id', '=', machineId).where('quarantine_id', '=', quarantineId).executeTakeFirst();
  }

  /** Marks an item restored (once: a later result for it changes nothing). */
  async markRestored(machineId: string, quarantineId: string, at: string, by: string, actionId: string): Promise<void> {
    await this.db
      .updateTable('quarantined_files')
      .set({ restored_at: at, restored_by: by, restore_action_id: actionId })
      .where('machine_id', '=', machineId)
      .where('quarantine_id', '=', quarantineId)
      .where('restored_at', 'is', null)
      .execute();
  }
}
