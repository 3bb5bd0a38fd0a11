import type { Kysely } from 'kysely';

/*
 * Files sent by live-response `getfile`. The id is the transfer's (derived by the agent from the
 * file's identity, so a transfer cut by an agent restart resumes); the bytes are in
 * <dataDir>/files/live, written by the same resumable chunk path as investigation packages.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('live_response_files')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('machine_id', 'text', (c) => c.notNull())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('path', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'text')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('completed_at', 'text')
    .execute();
  await db.schema.createIndex('live_response_files_session').on('live_response_files').columns(['session_id', 'seq']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('live_response_files').ifExists().execute();
}
