import { sql, type Kysely } from 'kysely';
import { autoIncrementId } from '../portable.js';

export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('machines')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('computer_dns_name', 'text', (c) => c.notNull())
    .addColumn('first_seen', 'text', (c) => c.notNull())
    .addColumn('last_seen', 'text', (c) => c.notNull())
    .addColumn('os_platform', 'text', (c) => c.notNull())
    .addColumn('os_version', 'text', (c) => c.notNull())
    .addColumn('os_processor', 'text', (c) => c.notNull())
    .addColumn('kernel', 'text', (c) => c.notNull())
    .addColumn('agent_version', 'text', (c) => c.notNull())
    .addColumn('last_ip_address', 'text')
    .addColumn('last_external_ip_address', 'text')
    .addColumn('ip_addresses', 'text', (c) => c.notNull())
    .addColumn('capabilities', 'text', (c) => c.notNull())
    .addColumn('risk_score', 'text', (c) => c.notNull().defaultTo('None'))
    .addColumn('exposure_level', 'text', (c) => c.notNull().defaultTo('None'))
    .addColumn('isolation_state', 'text', (c) => c.notNull().defaultTo('NotIsolated'))
    .addColumn('restriction_state', 'text', (c) => c.notNull().defaultTo('Unrestricted'))
    .addColumn('aad_device_id', 'text')
    .addColumn('credential_hash', 'text', (c) => c.notNull())
    .addColumn('enrolled_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('machines_name').on('machines').column('computer_dns_name').execute();

  await db.schema
    .createTable('machine_tags')
    .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
    .addColumn('tag', 'text', (c) => c.notNull())
    .addColumn('source', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('machine_tags_pk', ['machine_id', 'tag', 'source'])
    .execute();
  await db.schema.createIndex('machine_tags_tag').on('machine_tags').columns(['tag', 'machine_id']).execute();

  await db.schema
    .createTable('machine_ips')
    .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
    .addColumn('ip', 'text', (c) => c.notNull())
    .addColumn('first_seen', 'text', (c) => c.notNull())
    .addColumn('last_seen', 'text', (c) => c.notNull())
    .addPrimaryKeyConstraint('machine_ips_pk', ['machine_id', 'ip'])
    .execute();
  await db.schema.createIndex('machine_ips_ip').on('machine_ips').columns(['ip', 'last_seen']).execute();

  await db.schema
    .createTable('actions')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('scope', 'text')
    .addColumn('parameters', 'text', (c) => c.notNull())
    .addColumn('requestor', 'text', (c) => c.notNull())
    .addColumn('requestor_comment', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('updated_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('delivered_at', 'text')
    .addColumn('cancellation_requestor', 'text')
    .addColumn('cancellation_comment', 'text')
    .addColumn('cancellation_at', 'text')
    .addColumn('error', 'text')
    .addColumn('error_hresult', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('result', 'text')
    .addColumn('signed_payload', 'text', (c) => c.notNull())
    .addColumn('signature', 'text', (c) => c.notNull())
    .addColumn('signature_proof', 'text')
    .addColumn('key_id', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('actions_machine_status').on('actions').columns(['machine_id', 'status']).execute();
  await db.schema.createIndex('actions_status_expires').on('actions').columns(['status', 'expires_at']).execute();
  await db.schema.createIndex('actions_created').on('actions').column('created_at').execute();
  // At most one active action of a type per machine, enforced by the store itself so that two
  // racing submissions cannot both pass (partial indexes work on SQLite and PostgreSQL alike).
  await db.schema
    .createIndex('actions_one_active')
    .on('actions')
    .columns(['machine_id', 'type'])
    .unique()
    .where(sql.ref('status'), 'in', ['Pending', 'InProgress'])
    .execute();

  await autoIncrementId(db.schema.createTable('timeline'), db)
    .addColumn('machine_id', 'text', (c) => c.notNull().references('machines.id').onDelete('cascade'))
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('event_type', 'text', (c) => c.notNull())
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('actor', 'text')
    .addColumn('action_id', 'text')
    .addColumn('data', 'text')
    .execute();
  await db.schema.createIndex('timeline_machine_time').on('timeline').columns(['machine_id', 'time']).execute();

  await autoIncrementId(db.schema.createTable('audit_log'), db)
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('actor', 'text', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('target_type', 'text', (c) => c.notNull())
    .addColumn('target_id', 'text')
    .addColumn('comment', 'text')
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('detail', 'text')
    .execute();

  await db.schema
    .createTable('tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('app_id', 'text')
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text')
    .addColumn('revoked_at', 'text')
    .execute();

  await db.schema
    .createTable('apps')
    .addColumn('client_id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('role', 'text', (c) => c.notNull())
    .addColumn('secret_hash', 'text', (c) => c.notNull())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .execute();

  await db.schema
    .createTable('enrollment_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('token_hash', 'text', (c) => c.notNull().unique())
    .addColumn('created_at', 'text', (c) => c.notNull())
    .addColumn('expires_at', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  for (const t of ['enrollment_tokens', 'apps', 'tokens', 'audit_log', 'timeline', 'actions', 'machine_ips', 'machine_tags', 'machines']) {
    await db.schema.dropTable(t).ifExists().execute();
  }
}
