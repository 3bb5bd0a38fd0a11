import type { Kysely } from 'kysely';

/*
 * Answers to live-response Tab completions, for the moment between the node holding the agent
 * taking one and the node the analyst asked taking it away (answers are too big for the bus).
 * Never part of a transcript; rows live seconds (the asker deletes its answer, late ones are pruned).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('live_response_completions')
    .addColumn('completion_id', 'text', (c) => c.primaryKey())
    .addColumn('session_id', 'text', (c) => c.notNull())
    .addColumn('machine_id', 'text', (c) => c.notNull())
    .addColumn('answer', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('live_response_completions_created').on('live_response_completions').column('created_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('live_response_completions').ifExists().execute();
}
