import { sql, type Kysely } from 'kysely';

/*
 * Response readiness: the machine-action types each device's agent can run, kept with the machine
 * (`,Isolate,CollectInvestigationPackage,`) so the devices list can filter on what a device could
 * not do before an incident. The server derives it from each inventory and again at every start
 * (the catalog may have changed). And one person, one name: the token made on the first start acts
 * as the `admin` user made with it, not as a second "initial admin".
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('machines').addColumn('usable_actions', 'text', (c) => c.notNull().defaultTo('')).execute();
  // Stores made before tokens recorded their maker have no created_by for it.
  await sql`update tokens set name = 'admin' where name = 'initial admin' and kind = 'api' and (created_by = 'system' or created_by is null)`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`update tokens set name = 'initial admin' where name = 'admin' and kind = 'api' and (created_by = 'system' or created_by is null)`.execute(db);
  await db.schema.alterTable('machines').dropColumn('usable_actions').execute();
}
