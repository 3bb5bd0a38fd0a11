import type { Expression, ExpressionBuilder, Insertable, Selectable, SqlBool, Updateable } from 'kysely';
import type { Db } from '../db/database.js';
import type { ActionsTable, Database } from '../db/schema.js';

export type ActionRow = Selectable<ActionsTable> & { computer_dns_name: string };
export type ActionWhere = (eb: ExpressionBuilder<Database, 'actions' | 'machines'>) => Expression<SqlBool>;

export class ActionsRepository {
  constructor(private readonly db: Db) {}

  private base() {
    return this.db.selectFrom('actions').innerJoin('machines', 'machines.id', 'actions.machine_id').selectAll('actions').select('machines.computer_dns_name');
  }

  async insert(row: Insertable<ActionsTable>): Promise<void> {
    await this.db.insertInto('actions').values(row).execute();
  }

  async get(id: string): Promise<ActionRow | undefined> {
    return this.base().where('actions.id', '=', id).executeTakeFirst();
  }

  async list(where: ActionWhere | undefined, top: number, skip: number): Promise<ActionRow[]> {
    let q = this.base();
    if (where) q = q.where(where);
    return q.orderBy('actions.created_at', 'desc').orderBy('actions.id').limit(top).offset(skip).execute();
  }

  async activeOfType(machineId: string, type: string): Promise<ActionRow | undefined> {
    return this.base().where('actions.machine_id', '=', machineId).where('actions.type', '=', type).where('actions.status', 'in', ['Pending', 'InProgress']).executeTakeFirst();
  }

  /** Actions waiting for this machine, oldest first, so they run in the order they were asked for. */
  async pendingFor(machineId: string): Promise<ActionRow[]> {
    return this.base().where('actions.machine_id', '=', machineId).where('actions.status', '=', 'Pending').orderBy('actions.created_at').execute();
  }

  /**
   * Moves an action to a new state only if it is still in one of `from`: the compare-and-set that
   * keeps late, duplicate or racing messages from rewriting a finished action.
   */
  async transition(id: string, from: string[], values: Updateable<ActionsTable>): Promise<boolean> {
    const r = await this.db.updateTable('actions').set(values).where('id', '=', id).where('status', 'in', from).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async markDelivered(id: string, time: string): Promise<void> {
    await this.db.updateTable('actions').set({ delivered_at: time }).where('id', '=', id).execute();
  }

  async expired(now: string, limit = 500): Promise<ActionRow[]> {
    return this.base().where('actions.status', 'in', ['Pending', 'InProgress']).where('actions.expires_at', '<=', now).limit(limit).execute();
  }
}
