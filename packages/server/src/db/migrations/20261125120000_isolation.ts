import { sql, type Kysely } from 'kysely';

/*
 * Isolation: the agent's last isolation report on each machine, selective-isolation policies,
 * the record of issued break-glass tokens, and one exclusion key per action so that actions which
 * undo each other (Isolate / Unisolate) cannot be active together on one machine.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('machines').addColumn('isolation', 'text').execute();

  // The default only serves this ALTER (SQLite cannot add a NOT NULL column without one); every
  // insert sets the key. Existing rows get their type, the key they were unique on before.
  await db.schema.alterTable('actions').addColumn('exclusive_key', 'text', (c) => c.notNull().defaultTo('')).execute();
  await sql`update actions set exclusive_key = type`.execute(db);
  await db.schema.dropIndex('actions_one_active').execute();
  await db.schema
    .createIndex('actions_one_active_key')
    .on('actions')
    .columns(['machine_id', 'exclusive_key'])
    .unique()
    .where(sql.ref('status'), 'in', ['Pending', 'InProgress'])
    .execute();

  await db.schema
    .createTable('isolation_policies')
    .addColumn('scope', 'text', (c) => c.primaryKey())
    .addColumn('allow', 'text', (c) => c.notNull())
    .addColumn('comment', 'text')
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('updated_by', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('release_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
    .addColumn('issued_by', 'text', (c) => c.notNull())
    .addColumn('issued_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('release_tokens_machine').on('release_tokens').columns(['machine_id', 'issued_at']).execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('release_tokens').ifExists().execute();
  await db.schema.dropTable('isolation_policies').ifExists().execute();
  await db.schema.dropIndex('actions_one_active_key').ifExists().execute();
  await db.schema
    .createIndex('actions_one_active')
    .on('actions')
    .columns(['machine_id', 'type'])
    .unique()
    .where(sql.ref('status'), 'in', ['Pending', 'InProgress'])
    .execute();
  await db.schema.alterTable('actions').dropColumn('exclusive_key').execute();
  await db.schema.alterTable('machines').dropColumn('isolation').execute();
}
