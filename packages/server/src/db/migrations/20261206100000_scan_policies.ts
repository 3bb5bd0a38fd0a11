import type { Kysely } from 'kysely';

/*
 * Scan policies: the CPU share a scan may use when the analyst does not say, globally ('global')
 * and per device tag ('tag:<tag>'), as isolation policies are scoped.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('scan_policies')
    .addColumn('scope', 'text', (c) => c.primaryKey())
    .addColumn('cpu_percent', 'integer', (c) => c.notNull())
    .addColumn('comment', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('scan_policies').ifExists().execute();
}
