import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { AppsTable, EnrollmentTokensTable, TokensTable } from '../db/schema.js';

export type TokenRow = Selectable<TokensTable>;
export type AppRow = Selectable<AppsTable>;
export type EnrollmentTokenRow = Selectable<EnrollmentTokensTable>;

/** API tokens, app registrations and enrollment tokens; only hashes of secrets are stored. */
export class CredentialsRepository {
  constructor(private readonly db: Db) {}

  async insertToken(row: Insertable<TokensTable>): Promise<void> {
    await this.db.insertInto('tokens').values(row).execute();
  }

  async tokenByHash(hash: string): Promise<TokenRow | undefined> {
    return this.db.selectFrom('tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  }

  async tokenById(id: string): Promise<TokenRow | undefined> {
    return this.db.selectFrom('tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  /** API tokens and live access tokens, newest first. */
  async listTokens(top: number, skip: number): Promise<TokenRow[]> {
    return this.db.selectFrom('tokens').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(top).offset(skip).execute();
  }

  /** Marks a token revoked; answers false when it was revoked already (or does not exist). */
  async revokeToken(id: string, time: string, by: string): Promise<boolean> {
    const r = await this.db.updateTable('tokens').set({ revoked_at: time, revoked_by: by }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Revokes every live access token issued to an app; answers how many. */
  async revokeAccessTokensOf(appId: string, time: string, by: string): Promise<number> {
    const r = await this.db.updateTable('tokens').set({ revoked_at: time, revoked_by: by }).where('app_id', '=', appId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Records a use unless one was recorded since `staleBefore`: at most one write a minute per token. */
  async touchToken(id: string, time: string, staleBefore: string): Promise<void> {
    await this.db.updateTable('tokens').set({ last_used_at: time }).where('id', '=', id).where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', staleBefore)])).execute();
  }

  async countTokens(): Promise<number> {
    const r = await this.db.selectFrom('tokens').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async deleteExpiredAccessTokens(now: string): Promise<void> {
    await this.db.deleteFrom('tokens').where('kind', '=', 'access').where('expires_at', '<', now).execute();
  }

  async insertApp(row: Insertable<AppsTable>): Promise<void> {
    await this.db.insertInto('apps').values(row).execute();
  }

  async app(clientId: string): Promise<AppRow | undefined> {
    return this.db.selectFrom('apps').selectAll().where('client_id', '=', clientId).executeTakeFirst();
  }

  async listApps(top: number, skip: number): Promise<AppRow[]> {
    return this.db.selectFrom('apps').selectAll().orderBy('created_at', 'desc').orderBy('client_id').limit(top).offset(skip).execute();
  }

  async revokeApp(clientId: string, time: string, by: string): Promise<boolean> {
    const r = await this.db.updateTable('apps').set({ revoked_at: time, revoked_by: by }).where('client_id', '=', clientId).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async touchApp(clientId: string, time: string, staleBefore: string): Promise<void> {
    await this.db.updateTable('apps').set({ last_used_at: time }).where('client_id', '=', clientId).where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', staleBefore)])).execute();
  }

  async insertEnrollmentToken(row: Insertable<EnrollmentTokensTable>): Promise<void> {
    await this.db.insertInto('enrollment_tokens').values(row).execute();
  }

  async enrollmentTokenByHash(hash: string): Promise<EnrollmentTokenRow | undefined> {
    return this.db.selectFrom('enrollment_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  }

  async enrollmentTokenById(id: string): Promise<EnrollmentTokenRow | undefined> {
    return this.db.selectFrom('enrollment_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async listEnrollmentTokens(top: number, skip: number): Promise<EnrollmentTokenRow[]> {
    return this.db.selectFrom('enrollment_tokens').selectAll().orderBy('created_at', 'desc').orderBy('id').limit(top).offset(skip).execute();
  }

  async revokeEnrollmentToken(id: string, time: string, by: string): Promise<boolean> {
    const r = await this.db.updateTable('enrollment_tokens').set({ revoked_at: time, revoked_by: by }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** A device enrolled with it (enrollments are writes anyway: no throttle needed). */
  async touchEnrollmentToken(id: string, time: string): Promise<void> {
    await this.db.updateTable('enrollment_tokens').set({ last_used_at: time }).where('id', '=', id).execute();
  }
}
