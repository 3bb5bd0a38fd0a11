import type { Kysely } from 'kysely';

/*
 * An action's detail lists its state changes, read from the timeline by action: an index on it,
 * so a device with a long history does not make that a scan.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('timeline_action').on('timeline').columns(['action_id', 'time']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('timeline_action').execute();
}
