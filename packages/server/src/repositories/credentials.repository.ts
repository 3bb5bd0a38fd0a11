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

  async insertEnrollmentToken(row: Insertable<EnrollmentTokensTable>): Promise<void> {
    await this.db.insertInto('enrollment_tokens').values(row).execute();
  }

  async enrollmentTokenByHash(hash: string): Promise<EnrollmentTokenRow | undefined> {
    return this.db.selectFrom('enrollment_tokens').selectAll().where('token_hash', '=', hash).executeTakeFirst();
  }
}
