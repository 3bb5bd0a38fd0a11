import type { Kysely } from 'kysely';
import { autoIncrementId } from '../portable.js';

/*
 * Indicators of compromise (MDE's shape): one row per type + value, which is what a POST with the
 * same value and type updates. Ids are numbers, as MDE's are. Lists (RBAC groups, MITRE
 * techniques) are JSON text; generate_alert is 0 or 1 on both engines.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await autoIncrementId(db.schema.createTable('indicators'), db)
    .addColumn('indicator_type', 'text', (c) => c.notNull())
    .addColumn('indicator_value', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('recommended_actions', 'text')
    .addColumn('application', 'text')
    .addColumn('category', 'text')
    .addColumn('mitre_techniques', 'text', (c) => c.notNull())
    .addColumn('rbac_group_names', 'text', (c) => c.notNull())
    .addColumn('educate_url', 'text')
    .addColumn('generate_alert', 'integer', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('source_type', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expiration_time', 'text')
    .addColumn('last_update_time', 'text', (c) => c.notNull())
    .addColumn('last_updated_by', 'text')
    .addUniqueConstraint('indicators_type_value', ['indicator_type', 'indicator_value'])
    .execute();
  await db.schema.createIndex('indicators_value').on('indicators').column('indicator_value').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('indicators').ifExists().execute();
}
