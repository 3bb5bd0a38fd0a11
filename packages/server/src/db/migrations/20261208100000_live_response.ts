import type { Kysely } from 'kysely';
import { autoIncrementId } from '../portable.js';

/*
 * Live response transcripts. A session is a LiveResponse action (its row says who opened it, when,
 * its state and level); each line typed in it is a row of live_response_commands, and what the
 * device answered is live_response_output, one row per chunk as it arrived. Every node reads the
 * transcript from here, so an analyst on one node follows a device held by another.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('live_response_commands')
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('machine_id', 'text', (c) => c.notNull())
    .addColumn('line', 'text', (c) => c.notNull())
    .addColumn('command', 'text', (c) => c.notNull())
    .addColumn('issued_by', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('exit_status', 'integer')
    .addColumn('error', 'text')
    .addColumn('cwd', 'text')
    .addColumn('truncated', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('data', 'text')
    .addColumn('signed_payload', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('ended_at', 'text')
    .addPrimaryKeyConstraint('live_response_commands_pk', ['session_id', 'seq'])
    .execute();
  await db.schema.createIndex('live_response_commands_running').on('live_response_commands').columns(['machine_id', 'status']).execute();
  await autoIncrementId(db.schema.createTable('live_response_output'), db)
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('text', 'text', (c) => c.notNull())
    .addColumn('received_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('live_response_output_session').on('live_response_output').columns(['session_id', 'id']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('live_response_output').ifExists().execute();
  await db.schema.dropTable('live_response_commands').ifExists().execute();
}
