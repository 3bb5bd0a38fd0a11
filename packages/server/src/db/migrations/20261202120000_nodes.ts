import type { Kysely } from 'kysely';

/*
 * Several server nodes on one store: each running node has a row it refreshes (a node whose row
 * went stale is dead), and each connected agent a row naming the node that holds its connection,
 * so an action submitted on any node reaches the agent through the node that holds it.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('server_nodes')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('started_at', 'text', (c) => c.notNull())
    .addColumn('last_seen_at', 'text', (c) => c.notNull())
    .addColumn('stopped_at', 'text')
    .execute();
  await db.schema
    .createTable('agent_connections')
    .addColumn('machine_id', 'text', (c) => c.primaryKey().references('machines.id').onDelete('cascade'))
    .addColumn('node_id', 'text', (c) => c.notNull())
    .addColumn('connected_at', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('agent_connections_node').on('agent_connections').column('node_id').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('agent_connections').ifExists().execute();
  await db.schema.dropTable('server_nodes').ifExists().execute();
}
