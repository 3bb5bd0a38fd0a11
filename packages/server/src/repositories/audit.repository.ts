import type { Insertable, Selectable } from 'kysely';
import { atomically, type Db } from '../db/database.js';
import type { AuditTable } from '../db/schema.js';
import { auditRecordHash } from '../audit/chain.js';

export type AuditRow = Selectable<AuditTable>;
/** An audit record as services build it; its place in the chain is given when it is stored. */
export type NewAuditRecord = Omit<Insertable<AuditTable>, 'id' | 'seq' | 'prev_hash' | 'hash'>;
export interface ChainHead {
  seq: number;
  hash: string;
}

export class AuditRepository {
  constructor(private readonly db: Db) {}

  /**
   * Appends records to the chain: each gets the next position, the hash of the record before it
   * and its own. Updating the head row first takes its lock (PostgreSQL) inside the transaction, so
   * concurrent writers queue instead of forking the chain; SQLite has one writer at a time anyway.
   */
  async append(rows: NewAuditRecord[]): Promise<void> {
    if (rows.length === 0) return;
    await atomically(this.db, async (tx) => {
      await tx.updateTable('audit_chain').set((eb) => ({ seq: eb('seq', '+', 0) })).where('id', '=', 1).execute();
      const head = await tx.selectFrom('audit_chain').select(['seq', 'hash']).where('id', '=', 1).executeTakeFirstOrThrow();
      let seq = Number(head.seq);
      let prev = head.hash;
      const chained = rows.map((r) => {
        const fields = { seq: ++seq, time: r.time, actor: r.actor, action: r.action, target_type: r.target_type, target_id: r.target_id ?? null, comment: r.comment ?? null, outcome: r.outcome, detail: r.detail ?? null };
        const hash = auditRecordHash(prev, fields);
        const row = { ...fields, prev_hash: prev, hash };
        prev = hash;
        return row;
      });
      for (let i = 0; i < chained.length; i += 500) await tx.insertInto('audit_log').values(chained.slice(i, i + 500)).execute();
      await tx.updateTable('audit_chain').set({ seq, hash: prev }).where('id', '=', 1).execute();
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
