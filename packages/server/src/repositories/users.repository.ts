import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { SessionsTable, UsersTable } from '../db/schema.js';

export type UserRow = Selectable<UsersTable>;
export type SessionRow = Selectable<SessionsTable>;

export class UsersRepository {
  constructor(private readonly db: Db) {}

  async count(): Promise<number> {
    const r = await this.db.selectFrom('users').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async insert(row: Insertable<UsersTable>): Promise<void> {
    await this.db.insertInto('users').values(row).execute();
  }

  async byUsername(username: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('username', '=', username).executeTakeFirst();
  }

  async byId(id: string): Promise<UserRow | undefined> {
    return this.db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async list(top: number, skip: number): Promise<UserRow[]> {
    return this.db.selectFrom('users').selectAll().orderBy('username').limit(top).offset(skip).execute();
  }

  /** Disables an account; answers false when it was disabled already (or does not exist). */
  async disable(id: string, time: string, by: string): Promise<boolean> {
    const r = await this.db.updateTable('users').set({ disabled_at: time, disabled_by: by }).where('id', '=', id).where('disabled_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  /** Ends every session of a user; answers how many there were. */
  async deleteSessionsOf(userId: string): Promise<number> {
    const r = await this.db.deleteFrom('sessions').where('user_id', '=', userId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Records a use unless one was recorded since `staleBefore` (when given): at most one write a minute per user. */
  async touch(id: string, time: string, staleBefore?: string): Promise<void> {
    let q = this.db.updateTable('users').set({ last_used_at: time }).where('id', '=', id);
    if (staleBefore) q = q.where((eb) => eb.or([eb('last_used_at', 'is', null), eb('last_used_at', '<', staleBefore)]));
    await q.execute();
  }

  async setPassword(id: string, hash: string): Promise<void> {
    await this.db.updateTable('users').set({ password_hash: hash }).where('id', '=', id).execute();
  }

  async insertSession(row: Insertable<SessionsTable>): Promise<void> {
    await this.db.insertInto('sessions').values(row).execute();
  }

  async session(idHash: string): Promise<(SessionRow & { username: string; role: string; disabled_at: string | null; last_used_at: string | null }) | undefined> {
    return this.db
      .selectFrom('sessions')
      .innerJoin('users', 'users.id', 'sessions.user_id')
      .selectAll('sessions')
      .select(['users.username', 'users.role', 'users.disabled_at', 'users.last_used_at'])
      .where('sessions.id_hash', '=', idHash)
      .executeTakeFirst();
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('id_hash', '=', idHash).execute();
  }

  async deleteExpiredSessions(now: string): Promise<void> {
    await this.db.deleteFrom('sessions').where('expires_at', '<=', now).execute();
  }
}
