import { sql, type Expression, type Insertable, type Selectable, type SqlBool, type Updateable } from 'kysely';
import { INDICATOR_ACTIONS, INDICATOR_SEVERITIES, INDICATOR_TYPES } from '@cordon/protocol';
import type { Db } from '../db/database.js';
import { lockForTransaction } from '../db/portable.js';
import type { IndicatorsTable } from '../db/schema.js';
import { compileList, type FieldMap, type ListParams } from '../odata/compile.js';

export type IndicatorRow = Selectable<IndicatorsTable>;
export type NewIndicatorRow = Insertable<IndicatorsTable>;

/** The fields of the indicators list's `$filter` and `$orderby` (MDE's filterable ones we keep). */
const INDICATOR_FIELDS: FieldMap = {
  indicatorValue: { kind: 'text', column: 'indicators.indicator_value', alsoLowerCase: true },
  indicatorType: { kind: 'text', column: 'indicators.indicator_type', values: INDICATOR_TYPES },
  action: { kind: 'text', column: 'indicators.action', values: INDICATOR_ACTIONS },
  severity: { kind: 'text', column: 'indicators.severity', values: INDICATOR_SEVERITIES },
  title: { kind: 'text', column: 'indicators.title' },
  application: { kind: 'text', column: 'indicators.application' },
  category: { kind: 'text', column: 'indicators.category' },
  createdBy: { kind: 'text', column: 'indicators.created_by' },
  source: { kind: 'text', column: 'indicators.source' },
  sourceType: { kind: 'text', column: 'indicators.source_type', values: ['User', 'AadApp'] },
  lastUpdatedBy: { kind: 'text', column: 'indicators.last_updated_by' },
  creationTimeDateTimeUtc: { kind: 'datetime', column: 'indicators.created_at' },
  expirationTime: { kind: 'datetime', column: 'indicators.expiration_time' },
  lastUpdateTime: { kind: 'datetime', column: 'indicators.last_update_time' },
  generateAlert: {
    kind: 'derived',
    values: ['true', 'false'],
    build: (op, value): Expression<SqlBool> => sql<SqlBool>`indicators.generate_alert = ${(value === 'true') === (op === 'eq') ? 1 : 0}`,
  },
};

/** Indicators of compromise, unique by type + value. */
export class IndicatorsRepository {
  constructor(private readonly db: Db) {}

  /**
   * Makes the caller's transaction the only one changing indicators until it ends (several nodes
   * queue on it): a create-or-update reads and writes by value without racing another.
   */
  async lockWrites(): Promise<void> {
    await lockForTransaction(this.db, 'indicators/write');
  }

  /** One page of the list (`$filter`, `$orderby`, `$top`, `$skip`, `$count`), newest first unless ordered otherwise. */
  async page(q: ListParams): Promise<{ rows: IndicatorRow[]; count?: number }> {
    const { where, order } = compileList(q, INDICATOR_FIELDS);
    let list = this.db.selectFrom('indicators').selectAll();
    if (where) list = list.where(where);
    for (const o of order) list = list.orderBy(sql`${o.expr} ${sql.raw(o.dir)}`);
    const rows = list.orderBy('id', 'desc').limit(q.top).offset(q.skip).execute();
    let count: Promise<number> | undefined;
    if (q.count) {
      let c = this.db.selectFrom('indicators').select((eb) => eb.fn.countAll<number>().as('n'));
      if (where) c = c.where(where);
      count = c.executeTakeFirstOrThrow().then((r) => Number(r.n));
    }
    return { rows: await rows, count: await count };
  }

  async get(id: number): Promise<IndicatorRow | undefined> {
    return this.db.selectFrom('indicators').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async getMany(ids: number[]): Promise<IndicatorRow[]> {
    const out: IndicatorRow[] = [];
    for (let i = 0; i < ids.length; i += 500) out.push(...(await this.db.selectFrom('indicators').selectAll().where('id', 'in', ids.slice(i, i + 500)).execute()));
    return out;
  }

  async byValue(type: string, value: string): Promise<IndicatorRow | undefined> {
    return this.db.selectFrom('indicators').selectAll().where('indicator_type', '=', type).where('indicator_value', '=', value).executeTakeFirst();
  }

  async insert(row: NewIndicatorRow): Promise<IndicatorRow> {
    return this.db.insertInto('indicators').values(row).returningAll().executeTakeFirstOrThrow();
  }

  async update(id: number, values: Updateable<IndicatorsTable>): Promise<IndicatorRow> {
    return this.db.updateTable('indicators').set(values).where('id', '=', id).returningAll().executeTakeFirstOrThrow();
  }

  /** Answers how many of `ids` were there to delete. */
  async delete(ids: number[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < ids.length; i += 500) n += Number((await this.db.deleteFrom('indicators').where('id', 'in', ids.slice(i, i + 500)).executeTakeFirst()).numDeletedRows);
    return n;
  }

  /** The indicators in force at `now` (no expiry, or one after it), by id: what agents are sent. */
  async active(now: string): Promise<IndicatorRow[]> {
    return this.db
      .selectFrom('indicators')
      .selectAll()
      .where((eb) => eb.or([eb('expiration_time', 'is', null), eb('expiration_time', '>', now)]))
      .orderBy('id')
      .execute();
  }
}
