import type { Insertable, Selectable } from 'kysely';
import { atomically, type Db } from '../db/database.js';
import type { AuditTable } from '../db/schema.js';
import { chainRecords, type ChainHead } from '../audit/chain.js';

export type AuditRow = Selectable<AuditTable>;
/** An audit record as services build it; its place in the chain is given when it is stored. */
export type NewAuditRecord = Omit<Insertable<AuditTable>, 'id' | 'seq' | 'prev_hash' | 'hash'>;

export class AuditRepository {
  constructor(private readonly db: Db) {}

  /**
   * Appends records to the chain: each gets the next position, the hash of the record before it
   * and its own. Claiming the positions first updates the head row, which takes its lock
   * (PostgreSQL) inside the transaction, so concurrent writers queue instead of forking the chain;
   * SQLite has one writer at a time anyway.
   */
  async append(rows: NewAuditRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await atomically(this.db, async (tx) => {
      const claimed = await tx.updateTable('audit_chain').set((eb) => ({ seq: eb('seq', '+', rows.length) })).where('id', '=', 1).returning(['seq', 'hash']).executeTakeFirstOrThrow();
      const { rows: chained, head } = chainRecords({ seq: Number(claimed.seq) - rows.length, hash: claimed.hash }, rows);
      for (let i = 0; i < chained.length; i += 500) await tx.insertInto('audit_log').values(chained.slice(i, i + 500)).execute();
      await tx.updateTable('audit_chain').set({ hash: head.hash }).where('id', '=', 1).execute();
    });
  }

  async insert(row: NewAuditRecord): Promise<void> {
    await this.append([row]);
  }

  async head(): Promise<ChainHead> {
    const h = await this.db.selectFrom('audit_chain').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow();
    return { seq: Number(h.seq), hash: h.hash };
  }

  /** Records in chain order from position `afterSeq` + 1, for verification. */
  async chainPage(afterSeq: number, limit: number): Promise<AuditRow[]> {
    const rows = await this.db.selectFrom('audit_log').selectAll().where('seq', '>', afterSeq).orderBy('seq').limit(limit).execute();
    return rows.map((r) => ({ ...r, seq: Number(r.seq) }));
  }

  async count(): Promise<number> {
    const r = await this.db.selectFrom('audit_log').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async list(top: number, skip: number): Promise<AuditRow[]> {
    return this.db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(top).offset(skip).execute();
  }
}
