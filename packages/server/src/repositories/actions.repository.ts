import { sql, type Expression, type ExpressionBuilder, type Insertable, type Selectable, type SqlBool, type Updateable } from 'kysely';
import { ACTION_STATUSES } from '@cordon/protocol';
import { compileList, type FieldMap, type ListParams, type OrderKey } from '../odata/compile.js';
import type { Db } from '../db/database.js';
import { insertMany, isPostgres } from '../db/portable.js';
import type { ActionsTable, Database, TimelineTable } from '../db/schema.js';
import { AuditRepository, type NewAuditRecord } from './audit.repository.js';

export type ActionRow = Selectable<ActionsTable> & { computer_dns_name: string };
/** A new action as the engine builds it before storing it. */
export type NewAction = Insertable<ActionsTable> & { id: string; machine_id: string; type: string; parameters: string; requestor_comment: string };
export type ActionWhere = (eb: ExpressionBuilder<Database, 'actions' | 'machines'>) => Expression<SqlBool>;

/** The fields of the Action center's `$filter` and `$orderby`. */
const ACTION_FIELDS: FieldMap = {
  id: { kind: 'text', column: 'actions.id' },
  type: { kind: 'text', column: 'actions.type' },
  status: { kind: 'text', column: 'actions.status', values: ACTION_STATUSES },
  machineId: { kind: 'text', column: 'actions.machine_id' },
  computerDnsName: { kind: 'text', column: 'machines.computer_dns_name' },
  requestor: { kind: 'text', column: 'actions.requestor' },
  scope: { kind: 'text', column: 'actions.scope' },
  creationDateTimeUtc: { kind: 'datetime', column: 'actions.created_at' },
  lastUpdateDateTimeUtc: { kind: 'datetime', column: 'actions.updated_at' },
};

export class ActionsRepository {
  constructor(private readonly db: Db) {}

  /** Batches worth writing at once: PostgreSQL stores them in parallel; SQLite has one writer, and a second batch would only delay the first. */
  get parallelWrites(): number {
    return isPostgres(this.db) ? 2 : 1;
  }

  private base() {
    return this.db.selectFrom('actions').innerJoin('machines', 'machines.id', 'actions.machine_id').selectAll('actions').select('machines.computer_dns_name');
  }

  async insert(row: Insertable<ActionsTable>): Promise<void> {
    await this.db.insertInto('actions').values(row).execute();
  }

  /**
   * Inserts a batch of actions and, for those the store accepted, their audit and timeline rows,
   * all in one transaction. A machine that already has an active action of the same type is
   * skipped by the store's unique index. Answers the ids actually inserted.
   */
  async insertBatch(
    rows: Insertable<ActionsTable>[],
    records: (inserted: Set<string>) => { audit: NewAuditRecord[]; timeline: Insertable<TimelineTable>[] },
  ): Promise<Set<string>> {
    return this.db.transaction().execute(async (tx) => {
      const inserted = new Set((await insertMany(tx, 'actions', rows, { types: { error_hresult: 'integer' }, skipConflicts: true, returning: 'id' })) as string[]);
      const { audit, timeline } = records(inserted);
      await new AuditRepository(tx).append(audit);
      await insertMany(tx, 'timeline', timeline);
      return inserted;
    });
  }

  /** The batch form of `transition`: answers the ids that moved. */
  async transitionMany(ids: string[], from: string[], values: Updateable<ActionsTable>, timeline: (moved: string[]) => Insertable<TimelineTable>[]): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.db.transaction().execute(async (tx) => {
      const moved: string[] = [];
      for (let i = 0; i < ids.length; i += 500) {
        let q = tx.updateTable('actions').set(values).where('id', 'in', ids.slice(i, i + 500)).where('status', 'in', from);
        // Reviving a cancelled action must not collide with a newer active one of the same key
        // (cancel an Isolate, submit an Unisolate, then the Isolate's ack arrives): it stays Cancelled.
        if (values.status === 'Pending' || values.status === 'InProgress') {
          q = q.where((eb) =>
            eb.or([
              eb('actions.status', '!=', 'Cancelled'),
              eb.not(
                eb.exists(
                  eb
                    .selectFrom('actions as other')
                    .select('other.id')
                    .whereRef('other.machine_id', '=', 'actions.machine_id')
                    .whereRef('other.exclusive_key', '=', 'actions.exclusive_key')
                    .where('other.status', 'in', ['Pending', 'InProgress'])
                    .whereRef('other.id', '!=', 'actions.id'),
                ),
              ),
            ]),
          );
        }
        const r = await q.returning('id').execute();
        moved.push(...r.map((x) => x.id));
      }
      const events = timeline(moved);
      for (let i = 0; i < events.length; i += 500) await tx.insertInto('timeline').values(events.slice(i, i + 500)).execute();
      return moved;
    });
  }

  async getMany(ids: string[]): Promise<ActionRow[]> {
    const out: ActionRow[] = [];
    for (let i = 0; i < ids.length; i += 500) out.push(...(await this.base().where('actions.id', 'in', ids.slice(i, i + 500)).execute()));
    return out;
  }

  async markDeliveredMany(ids: string[], time: string): Promise<void> {
    for (let i = 0; i < ids.length; i += 500) await this.db.updateTable('actions').set({ delivered_at: time }).where('id', 'in', ids.slice(i, i + 500)).execute();
  }

  async get(id: string): Promise<ActionRow | undefined> {
    return this.base().where('actions.id', '=', id).executeTakeFirst();
  }

  /** A page of actions, newest first unless `order` says otherwise; the id breaks ties so pages never overlap. */
  async list(where: ActionWhere | undefined, top: number, skip: number, order: OrderKey[] = []): Promise<ActionRow[]> {
    let q = this.base();
    if (where) q = q.where(where);
    for (const o of order.length ? order : [{ expr: sql.ref('actions.created_at'), dir: 'desc' as const }]) q = q.orderBy(sql`${o.expr} ${sql.raw(o.dir)}`);
    return q.orderBy('actions.id').limit(top).offset(skip).execute();
  }

  /** One page of an Action center query (`$filter`, `$orderby`, `$top`, `$skip`, `$count`). */
  async page(q: ListParams): Promise<{ rows: ActionRow[]; count?: number }> {
    const { where, order } = compileList(q, ACTION_FIELDS);
    const [rows, count] = await Promise.all([this.list(where, q.top, q.skip, order), q.count ? this.count(where) : undefined]);
    return { rows, count };
  }

  async count(where: ActionWhere | undefined): Promise<number> {
    let q = this.db.selectFrom('actions').innerJoin('machines', 'machines.id', 'actions.machine_id').select((eb) => eb.fn.countAll<number>().as('n'));
    if (where) q = q.where(where);
    return Number((await q.executeTakeFirstOrThrow()).n);
  }

  async activeTypes(machineId: string): Promise<string[]> {
    const rows = await this.db.selectFrom('actions').select('type').distinct().where('machine_id', '=', machineId).where('status', 'in', ['Pending', 'InProgress']).execute();
    return rows.map((r) => r.type);
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
