import type { Kysely } from 'kysely';
import { autoIncrementId } from '../portable.js';

/*
 * Device groups (MDE's machine groups): ranked (1 is the highest priority), each with a rule that
 * says which devices it takes (JSON, `{"tag":"prod"}` today; new kinds of rule add keys). A device
 * belongs to the highest-ranked group whose rule matches it; none: "Ungrouped devices".
 * `name_key` is the name lower-cased, so names are unique whatever their case on both engines.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await autoIncrementId(db.schema.createTable('device_groups'), db)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('name_key', 'text', (c) => c.notNull().unique())
    .addColumn('description', 'text')
    .addColumn('rank', 'integer', (c) => c.notNull().unique())
    .addColumn('rule', 'text', (c) => c.notNull())
    .addColumn('live_response_shell', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('device_groups').ifExists().execute();
}
