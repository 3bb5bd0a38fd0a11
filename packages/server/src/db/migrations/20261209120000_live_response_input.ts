import type { Kysely } from 'kysely';

/*
 * What was typed in a live-response `shell`: one row per input chunk (keystrokes and/or a new
 * terminal size), numbered per line from 1 (the number the agent checks, so a chunk is typed once),
 * with its signed command, which any node holding the device can send. The transcript and its
 * asciicast export read it back as input events.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('live_response_input')
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('seq', 'integer', (c) => c.notNull())
    .addColumn('chunk', 'integer', (c) => c.notNull())
    .addColumn('machine_id', 'text', (c) => c.notNull())
    .addColumn('data', 'text')
    .addColumn('cols', 'integer')
    .addColumn('rows', 'integer')
    .addColumn('signed_payload', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('sent_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('live_response_input_pk', ['session_id', 'seq', 'chunk'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('live_response_input').ifExists().execute();
}
