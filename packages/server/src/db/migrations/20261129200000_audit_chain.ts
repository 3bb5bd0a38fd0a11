import { sql, type Kysely } from 'kysely';
import { auditRecordHash, GENESIS_HASH } from '../../audit/chain.js';

/*
 * A tamper-evident audit trail: every record carries its position in the chain (`seq`), the hash
 * of the record before it and its own hash. `audit_chain` is the chain's head (one row); writers
 * update it in the same transaction as the records they add, which is also what serialises them.
 * Records written by earlier releases are chained here, in the order they were written.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('audit_log').addColumn('seq', 'bigint').execute();
  await db.schema.alterTable('audit_log').addColumn('prev_hash', 'text').execute();
  await db.schema.alterTable('audit_log').addColumn('hash', 'text').execute();
  await db.schema
    .createTable('audit_chain')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('hash', 'text', (c) => c.notNull())
    .execute();

  type Row = { id: number; time: string; actor: string; action: string; target_type: string; target_id: string | null; comment: string | null; outcome: string; detail: string | null };
  let seq = 0;
  let prev = GENESIS_HASH;
  for (let after = -1; ; ) {
    const { rows } = await sql<Row>`select id, time, actor, action, target_type, target_id, comment, outcome, detail from audit_log where id > ${after} order by id limit 1000`.execute(db);
    if (rows.length === 0) break;
    for (const r of rows) {
      seq += 1;
      const hash = auditRecordHash(prev, { ...r, seq });
      await sql`update audit_log set seq = ${seq}, prev_hash = ${prev}, hash = ${hash} where id = ${r.id}`.execute(db);
      prev = hash;
      after = Number(r.id);
    }
  }
  await sql`insert into audit_chain (id, seq, hash) values (1, ${seq}, ${prev})`.execute(db);
  await db.schema.createIndex('audit_log_seq').unique().on('audit_log').column('seq').execute();
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropIndex('audit_log_seq').execute();
  await db.schema.dropTable('audit_chain').execute();
  await db.schema.alterTable('audit_log').dropColumn('hash').execute();
  await db.schema.alterTable('audit_log').dropColumn('prev_hash').execute();
  await db.schema.alterTable('audit_log').dropColumn('seq').execute();
}
