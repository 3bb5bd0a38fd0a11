import type { Kysely } from 'kysely';

/*
 * Investigation packages: one row per uploaded package (the zip lives in the file store), kept
 * until its retention ends; `deleted_at` records when the file was removed.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('packages')
    .addColumn('action_id', 'text', (c) => c.primaryKey().references('actions.id').onDelete('cascade'))
    .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('deleted_at', 'text')
    .execute();
  await db.schema.createIndex('packages_machine').on('packages').columns(['machine_id', 'created_at']).execute();
  await db.schema.createIndex('packages_expires').on('packages').column('expires_at').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('packages').execute();
}
