import type { Kysely } from 'kysely';

/*
 * Signed content (indicators, rule packs, scripts): one row per published version of kind + name,
 * its bytes in the file store (`file`, relative to the content's folder). The primary key is what
 * makes two publications racing for the same next version fail instead of both succeeding.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('content')
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('signed_manifest', 'text', (c) => c.notNull())
    .addColumn('file', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('content_pk', ['kind', 'name', 'version'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('content').execute();
}
