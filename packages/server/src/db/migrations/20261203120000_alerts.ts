import { sql, type Kysely } from 'kysely';

/*
 * Alerts: what other tools (Falco, SIEMs, scripts) and agents detected, the queue analysts work
 * from. `machine_id` is null while the host the alert names has not enrolled (`host_key` finds
 * it when it does); `source_key` is unique so the same source event sent twice is one alert with
 * a count. `severity_rank` orders severities and gives a device its risk (the highest open one).
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('alerts')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('source_key', 'text', (c) => c.notNull().unique())
    .addColumn('machine_id', 'text')
    .addColumn('computer_dns_name', 'text')
    .addColumn('host_key', 'text')
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('severity_rank', 'integer', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('classification', 'text')
    .addColumn('determination', 'text')
    .addColumn('assigned_to', 'text')
    .addColumn('category', 'text')
    .addColumn('detection_source', 'text', (c) => c.notNull())
    .addColumn('threat_name', 'text')
    .addColumn('mitre_techniques', 'text', (c) => c.notNull())
    .addColumn('evidence', 'text', (c) => c.notNull())
    .addColumn('event_count', 'integer', (c) => c.notNull())
    .addColumn('first_event_time', 'text', (c) => c.notNull())
    .addColumn('last_event_time', 'text', (c) => c.notNull())
    .addColumn('alert_creation_time', 'text', (c) => c.notNull())
    .addColumn('last_update_time', 'text', (c) => c.notNull())
    .addColumn('resolved_time', 'text')
    .addColumn('created_by', 'text', (c) => c.notNull())
    .execute();
  // The queue's default order, and its usual filters (severity and status) in that order.
  await db.schema.createIndex('alerts_created').on('alerts').columns(['alert_creation_time', 'id']).execute();
  await db.schema.createIndex('alerts_severity_status').on('alerts').columns(['severity', 'status', 'alert_creation_time']).execute();
  // No index on status alone: with three values it made SQLite sort every open alert for the
  // queue's default view (open ones, newest first) instead of reading alerts_created in order.
  // The queue sorted by severity (highest first): read in index order, 50 at a time, no sort.
  await db.schema.createIndex('alerts_severity_rank').on('alerts').columns(['severity_rank', 'id']).execute();
  // A device's alerts, and its risk (the open ones).
  await db.schema.createIndex('alerts_machine').on('alerts').columns(['machine_id', 'status', 'severity_rank']).execute();
  // Only alerts not yet joined to a device are looked up by host name: a small partial index.
  await db.schema.createIndex('alerts_host_key').on('alerts').column('host_key').where(sql.ref('machine_id'), 'is', null).execute();

  await db.schema
    .createTable('alert_comments')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('alert_id', 'text', (c) => c.notNull().references('alerts.id').onDelete('cascade'))
    .addColumn('time', 'text', (c) => c.notNull())
    .addColumn('created_by', 'text', (c) => c.notNull())
    .addColumn('comment', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('alert_comments_alert').on('alert_comments').columns(['alert_id', 'time']).execute();

  // Alerts name devices by host name, in any case: found through an index on both engines.
  await sql`create index machines_host_name on machines (lower(computer_dns_name))`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index if exists machines_host_name`.execute(db);
  await db.schema.dropTable('alert_comments').ifExists().execute();
  await db.schema.dropTable('alerts').ifExists().execute();
}
