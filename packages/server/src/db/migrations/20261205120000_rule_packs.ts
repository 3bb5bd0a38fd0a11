import type { Kysely } from 'kysely';
import { autoIncrementId } from '../portable.js';

/*
 * YARA rule packs uploaded by admins: every upload of a name is its next version (kept, so what a
 * scan ran is known); deleting a pack marks all its versions deleted. The packs in force are each
 * name's newest version not deleted.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await autoIncrementId(db.schema.createTable('rule_packs'), db)
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('version', 'integer', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('size', 'integer', (c) => c.notNull())
    .addColumn('rule_count', 'integer', (c) => c.notNull())
    .addColumn('uploaded_by', 'text', (c) => c.notNull())
    .addColumn('uploaded_at', 'text', (c) => c.notNull())
    .addColumn('deleted_by', 'text')
    .addColumn('deleted_at', 'text')
    .addUniqueConstraint('rule_packs_name_version', ['name', 'version'])
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('rule_packs').ifExists().execute();
}
