import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import { lockForTransaction } from '../db/portable.js';
import type { RulePacksTable } from '../db/schema.js';

export type RulePackRow = Selectable<RulePacksTable>;
export type NewRulePackRow = Omit<Insertable<RulePacksTable>, 'version' | 'deleted_by' | 'deleted_at'>;

/** Uploaded YARA rule packs, every version kept. */
export class RulePacksRepository {
  constructor(private readonly db: Db) {}

  /**
   * Makes the caller's transaction the only one changing rule packs until it ends (several nodes
   * queue on it): an upload is checked against the packs in force and stored as the next version
   * without another upload changing either meanwhile.
   */
  async lockWrites(): Promise<void> {
    await lockForTransaction(this.db, 'rulepacks/write');
  }

  /** Stores `row` as the next version of its name (after a delete, numbering goes on). */
  async insertNext(row: NewRulePackRow): Promise<RulePackRow> {
    const latest = await this.db.selectFrom('rule_packs').select((eb) => eb.fn.max('version').as('v')).where('name', '=', row.name).executeTakeFirst();
    return this.db
      .insertInto('rule_packs')
      .values({ ...row, version: Number(latest?.v ?? 0) + 1 })
      .returningAll()
      .executeTakeFirstOrThrow();
  }

  /** The packs in force: each name's newest version, unless the pack was deleted; by name. */
  async current(): Promise<RulePackRow[]> {
    return this.db
      .selectFrom('rule_packs as r')
      .selectAll('r')
      .where('r.deleted_at', 'is', null)
      .where(({ not, exists, selectFrom }) =>
        not(exists(selectFrom('rule_packs as newer').select('newer.id').whereRef('newer.name', '=', 'r.name').whereRef('newer.version', '>', 'r.version'))),
      )
      .orderBy('r.name')
      .execute();
  }

  /** Every version of one pack, newest first (deleted ones too). */
  async versions(name: string): Promise<RulePackRow[]> {
    return this.db.selectFrom('rule_packs').selectAll().where('name', '=', name).orderBy('version', 'desc').execute();
  }

  /** Marks every version of `name` deleted; answers how many were in force (0 or 1). */
  async markDeleted(name: string, by: string, at: string): Promise<number> {
    const r = await this.db.updateTable('rule_packs').set({ deleted_by: by, deleted_at: at }).where('name', '=', name).where('deleted_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0 ? 1 : 0;
  }
}
