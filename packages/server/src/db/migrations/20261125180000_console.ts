import type { Kysely } from 'kysely';

/*
 * The console sorts and filters devices by last-seen time (health is derived from it) and finds
 * the devices that just turned Inactive every few seconds: both want an index on it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.createIndex('machines_last_seen').on('machines').columns(['last_seen', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('machines_last_seen').execute();
}
