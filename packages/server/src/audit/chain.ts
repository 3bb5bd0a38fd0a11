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
