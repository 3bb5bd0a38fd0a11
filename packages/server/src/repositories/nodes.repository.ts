import type { Db } from '../db/database.js';

/** The server nodes sharing the store, and which of them holds each connected agent. */
export class NodesRepository {
  constructor(private readonly db: Db) {}

  /** The nodes alive: seen since `since` and not stopped. */
  #liveNodes(since: string) {
    return this.db.selectFrom('server_nodes').where('stopped_at', 'is', null).where('last_seen_at', '>=', since);
  }

  async register(id: string, name: string, time: string): Promise<void> {
    await this.db.insertInto('server_nodes').values({ id, name, started_at: time, last_seen_at: time, stopped_at: null }).execute();
  }

  async heartbeat(id: string, time: string): Promise<void> {
    await this.db.updateTable('server_nodes').set({ last_seen_at: time }).where('id', '=', id).execute();
  }

  /** A node that stops cleanly says so, and gives up its agents' connections. */
  async stopped(id: string, time: string): Promise<void> {
    await this.db.deleteFrom('agent_connections').where('node_id', '=', id).execute();
    await this.db.updateTable('server_nodes').set({ stopped_at: time, last_seen_at: time }).where('id', '=', id).execute();
  }

  /** Nodes seen since `since` that have not stopped. */
  async live(since: string): Promise<{ id: string; name: string; started_at: string; last_seen_at: string }[]> {
    return this.#liveNodes(since).select(['id', 'name', 'started_at', 'last_seen_at']).orderBy('started_at').execute();
  }

  /** Forgets nodes that stopped or went silent before `before` (their rows only: history is in the timeline). */
  async pruneNodes(before: string): Promise<void> {
    await this.db.deleteFrom('server_nodes').where('last_seen_at', '<', before).execute();
  }

  async connected(machineId: string, nodeId: string, time: string): Promise<void> {
    await this.db
      .insertInto('agent_connections')
      .values({ machine_id: machineId, node_id: nodeId, connected_at: time })
      .onConflict((oc) => oc.column('machine_id').doUpdateSet({ node_id: nodeId, connected_at: time }))
      .execute();
  }

  /** The agent's connection to `nodeId` ended; a newer one on another node is left alone. */
  async disconnected(machineId: string, nodeId: string): Promise<void> {
    await this.db.deleteFrom('agent_connections').where('machine_id', '=', machineId).where('node_id', '=', nodeId).execute();
  }

  /** Every agent connection held by a node seen since `since`. */
  async held(since: string): Promise<{ machine_id: string; node_id: string }[]> {
    return this.db.selectFrom('agent_connections').select(['machine_id', 'node_id']).where('node_id', 'in', this.#liveNodes(since).select('id')).execute();
  }

  /** Drops the connections of nodes not seen since `since` (dead or stopped): answers their machines. */
  async releaseDead(since: string): Promise<string[]> {
    const rows = await this.db
      .deleteFrom('agent_connections')
      .where('node_id', 'not in', this.#liveNodes(since).select('id'))
      .returning('machine_id')
      .execute();
    return rows.map((r) => r.machine_id);
  }
}
