import type { Kysely } from 'kysely';

/*
 * Revocation: who made each credential, when it was last used (written at most once a minute),
 * and when and by whom it was revoked; a device credential's revocation is kept on its machine,
 * as is the last time its credential was seen in use by two live connections at once (a clone).
 * One column per statement: SQLite adds a single column per ALTER TABLE.
 */
const COLUMNS: [table: string, columns: string[]][] = [
  ['tokens', ['created_by', 'last_used_at', 'revoked_by']],
  ['apps', ['created_by', 'last_used_at', 'revoked_at', 'revoked_by']],
  ['enrollment_tokens', ['last_used_at', 'revoked_at', 'revoked_by']],
  ['users', ['created_by', 'last_used_at', 'disabled_by']],
  ['machines', ['credential_revoked_at', 'credential_revoked_by', 'credential_in_use_twice_at']],
];

export async function up(db: Kysely<unknown>): Promise<void> {
  for (const [table, columns] of COLUMNS) {
    for (const column of columns) await db.schema.alterTable(table).addColumn(column, 'text').execute();
  }
  // Revoking an app revokes its access tokens: found by app.
  await db.schema.createIndex('tokens_app').on('tokens').column('app_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('tokens_app').execute();
  for (const [table, columns] of [...COLUMNS].reverse()) {
    for (const column of [...columns].reverse()) await db.schema.alterTable(table).dropColumn(column).execute();
  }
}
