import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import type { AuditTable } from '../db/schema.js';

export type AuditRow = Selectable<AuditTable>;
/** An audit record as services build it, to be stored alone or inside another write's transaction. */
export type NewAuditRecord = Insertable<AuditTable>;

export class AuditRepository {
  constructor(private readonly db: Db) {}

  async insert(row: NewAuditRecord): Promise<void> {
    await this.db.insertInto('audit_log').values(row).execute();
  }

  async list(top: number, skip: number): Promise<AuditRow[]> {
    return this.db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(top).offset(skip).execute();
  }
}
