import type { Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { ScanPoliciesTable } from '../db/schema.js';

export type ScanPolicyRow = Selectable<ScanPoliciesTable>;

/** Scan policies, one row per scope ('global', 'tag:<tag>'). */
export class ScanPoliciesRepository {
  constructor(private readonly db: Db) {}

  async all(): Promise<ScanPolicyRow[]> {
    return this.db.selectFrom('scan_policies').selectAll().orderBy('scope').execute();
  }

  async in(scopes: string[]): Promise<ScanPolicyRow[]> {
    const out: ScanPolicyRow[] = [];
    for (let i = 0; i < scopes.length; i += 500) out.push(...(await this.db.selectFrom('scan_policies').selectAll().where('scope', 'in', scopes.slice(i, i + 500)).execute()));
    return out;
  }

  async upsert(row: ScanPolicyRow): Promise<void> {
    await this.db
      .insertInto('scan_policies')
      .values(row)
      .onConflict((oc) => oc.column('scope').doUpdateSet({ cpu_percent: row.cpu_percent, comment: row.comment, updated_at: row.updated_at, updated_by: row.updated_by }))
      .execute();
  }

  /** Answers whether there was one to delete. */
  async delete(scope: string): Promise<boolean> {
    const r = await this.db.deleteFrom('scan_policies').where('scope', '=', scope).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
