import type { Kysely } from 'kysely';

/*
 * Each device's quarantined files, as its agent reported them in StopAndQuarantineFile results:
 * one row per vault item (the agent's quarantine id, unique per machine), marked restored when a
 * RestoreQuarantinedFile succeeds. The agent's vault holds the bytes; this is what the API lists.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('quarantined_files')
    .addColumn('machine_id', 'text', (c) => c.notNull())
    .addColumn('quarantine_id', 'text', (c) => c.notNull())
    .addColumn('file_path', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('sha1', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('quarantined_at', 'text', (c) => c.notNull())
    .addColumn('quarantined_by', 'text', (c) => c.notNull())
    .addColumn('action_id', 'text', (c) => c.notNull())
    .addColumn('restored_at', 'text')
    .addColumn('restored_by', 'text')
    .addColumn('restore_action_id', 'text')
    .addPrimaryKeyConstraint('quarantined_files_pk', ['machine_id', 'quarantine_id'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('quarantined_files').ifExists().execute();
}
