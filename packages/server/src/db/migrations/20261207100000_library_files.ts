import type { Kysely } from 'kysely';

/*
 * The live-response library (MDE's library files): one row per file name, the version in force.
 * The bytes are signed content (kind `script`, name `content_name`): each upload of a name is that
 * content's next version, and `content_version` is the one this row describes. Deleting a file
 * deletes its row; the audit log keeps what it was.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('library_files')
    .addColumn('file_name', 'text', (c) => c.primaryKey())
    .addColumn('description', 'text')
    .addColumn('has_parameters', 'integer', (c) => c.notNull())
    .addColumn('parameters_description', 'text')
    .addColumn('sha256', 'text', (c) => c.notNull())
    .addColumn('size', 'bigint', (c) => c.notNull())
    .addColumn('signed_by', 'text')
    .addColumn('content_name', 'text', (c) => c.notNull())
    .addColumn('content_version', 'bigint', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('creation_time', 'text', (c) => c.notNull())
    .addColumn('last_updated_by', 'text', (c) => c.notNull())
    .addColumn('last_updated_time', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('library_files').ifExists().execute();
}
