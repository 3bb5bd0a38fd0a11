import { createHash } from 'node:crypto';

/** The previous hash of the first record: the chain starts from nothing. */
export const GENESIS_HASH = '0'.repeat(64);

/** The fields of an audit record the chain protects (everything but the store's own row id). */
export interface ChainedFields {
  seq: number;
  time: string;
  actor: string;
  action: string;
  target_type: string;
  target_id: string | null;
  comment: string | null;
  outcome: string;
  detail: string | null;
}

/**
 * A record's hash covers its position, every field and the hash of the record before it, so
 * editing a record changes its hash and deleting one breaks the next record's link.
 */
export function auditRecordHash(prevHash: string, r: ChainedFields): string {
  const canonical = JSON.stringify(['cordon-audit/v1', prevHash, r.seq, r.time, r.actor, r.action, r.target_type, r.target_id, r.comment, r.outcome, r.detail]);
  return createHash('sha256').update(canonical).digest('hex');
}

/** Where the chain stands: the last record's position and hash. */
export interface ChainHead {
  seq: number;
  hash: string;
}

type Unchained = Omit<ChainedFields, 'seq' | 'target_id' | 'comment' | 'detail'> & { target_id?: string | null; comment?: string | null; detail?: string | null };

/** Links `records` onto the chain after `head`: each gets the next position, the previous hash and its own. */
export function chainRecords(head: ChainHead, records: Unchained[]): { rows: (ChainedFields & { prev_hash: string; hash: string })[]; head: ChainHead } {
  let { seq, hash: prev } = head;
  const rows = records.map((r) => {
    const fields: ChainedFields = { seq: ++seq, time: r.time, actor: r.actor, action: r.action, target_type: r.target_type, target_id: r.target_id ?? null, comment: r.comment ?? null, outcome: r.outcome, detail: r.detail ?? null };
    const hash = auditRecordHash(prev, fields);
    const row = { ...fields, prev_hash: prev, hash };
    prev = hash;
    return row;
  });
  return { rows, head: { seq, hash: prev } };
}
