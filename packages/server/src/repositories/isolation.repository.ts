import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { IsolationPoliciesTable, ReleaseTokensTable } from '../db/schema.js';

export type IsolationPolicyRow = Selectable<IsolationPoliciesTable>;
export type ReleaseTokenRow = Selectable<ReleaseTokensTable>;

/** Selective-isolation policies (one row per scope) and the record of issued break-glass tokens. */
export class IsolationRepository {
  constructor(private readonly db: Db) {}

  async policies(): Promise<IsolationPolicyRow[]> {
    return this.db.selectFrom('isolation_policies').selectAll().orderBy('scope').execute();
  }

  async policy(scope: string): Promise<IsolationPolicyRow | undefined> {
    return this.db.selectFrom('isolation_policies').selectAll().where('scope', '=', scope).executeTakeFirst();
  }

  async policiesIn(scopes: string[]): Promise<IsolationPolicyRow[]> {
    const out: IsolationPolicyRow[] = [];
    for (let i = 0; i < scopes.length; i += 500) out.push(...(await this.db.selectFrom('isolation_policies').selectAll().where('scope', 'in', scopes.slice(i, i + 500)).execute()));
    return out;
  }

  async upsertPolicy(row: IsolationPolicyRow): Promise<void> {
    await this.db
      .insertInto('isolation_policies')
      .values(row)
      .onConflict((oc) => oc.column('scope').doUpdateSet({ allow: row.allow, comment: row.comment, updated_at: row.updated_at, updated_by: row.updated_by }))
      .execute();
  }

  /** Answers whether a policy was there to delete. */
  async deletePolicy(scope: string): Promise<boolean> {
    const r = await this.db.deleteFrom('isolation_policies').where('scope', '=', scope).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async insertReleaseToken(row: Insertable<ReleaseTokensTable>): Promise<void> {
    await this.db.insertInto('release_tokens').values(row).execute();
  }

  async releaseTokens(machineId: string): Promise<ReleaseTokenRow[]> {
    return this.db.selectFrom('release_tokens').selectAll().where('machine_id', '=', machineId).orderBy('issued_at', 'desc').execute();
  }
}
