import type { Kysely } from 'kysely';

/*
 * Restrict app execution: the agent's last restriction report on each machine (JSON of the
 * protocol's RestrictionReport), from which `restriction_state` follows, as `isolation` does for
 * isolation.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('machines').addColumn('restriction', 'text').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('machines').dropColumn('restriction').execute();
}
