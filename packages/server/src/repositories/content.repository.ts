import type { Insertable, Selectable } from 'kysely';
import type { Db } from '../db/database.js';
import { isUniqueViolation, lockForTransaction } from '../db/portable.js';
import type { ContentTable } from '../db/schema.js';
import { AuditRepository, type NewAuditRecord } from './audit.repository.js';

export type ContentRow = Selectable<ContentTable>;

export class ContentRepository {
  constructor(private readonly db: Db) {}

  /**
   * Stores the next version of kind + name in one transaction: reads the latest version, lets
   * `make` build the row for latest + 1, inserts it with its audit record, then runs `placed`
   * (which puts the file in place) before committing. Publications of one kind + name queue on a
   * lock (several nodes); should one still race for a version, the primary key refuses it and it
   * tries the next one (up to `attempts` times).
   */
  async insertNext(
    kind: string,
    name: string,
    make: (version: number) => { row: Insertable<ContentTable>; audit: NewAuditRecord },
    placed: (row: ContentRow) => Promise<void>,
    attempts = 5,
  ): Promise<ContentRow> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.db.transaction().execute(async (tx) => {
          await lockForTransaction(tx, `content/${kind}/${name}`);
          const latest = await tx.selectFrom('content').select((eb) => eb.fn.max('version').as('v')).where('kind', '=', kind).where('name', '=', name).executeTakeFirst();
          const { row, audit } = make(Number(latest?.v ?? 0) + 1);
          const inserted = await tx.insertInto('content').values(row).returningAll().executeTakeFirstOrThrow();
          await new AuditRepository(tx).append([audit]);
          await placed(inserted);
          return inserted;
        });
      } catch (e) {
        if (attempt >= attempts || !isUniqueViolation(e)) throw e;
      }
    }
  }

  async latest(kind: string, name: string): Promise<ContentRow | undefined> {
    return this.db.selectFrom('content').selectAll().where('kind', '=', kind).where('name', '=', name).orderBy('version', 'desc').limit(1).executeTakeFirst();
  }

  async get(kind: string, name: string, version: number): Promise<ContentRow | undefined> {
    return this.db.selectFrom('content').selectAll().where('kind', '=', kind).where('name', '=', name).where('version', '=', version).executeTakeFirst();
  }
}
