import type { Logger } from 'pino';
import type { Clock } from '../clock.js';
import { auditRecordHash, GENESIS_HASH } from '../audit/chain.js';
import type { CheckpointSigner, SignedCheckpoint } from '../audit/checkpoint.js';
import type { AuditRepository } from '../repositories/audit.repository.js';
import type { CheckpointLog } from '../storage/audit-checkpoints.js';
import { KeyedMutex, type Locks } from './counters.js';

/** The first place the audit trail stops being what was written, and why. */
export interface BrokenRecord {
  seq: number;
  id: number | null;
  time: string | null;
  reason: string;
}

export interface AuditVerification {
  verified: boolean;
  /** Records checked, in chain order. */
  records: number;
  checkpoints: number;
  lastCheckpoint: { seq: number; time: string } | null;
  /** Records written since the last checkpoint: a deletion of these alone is caught only by the chain head. */
  sinceLastCheckpoint: number;
  firstBroken: BrokenRecord | null;
}

const PAGE = 1000;
const CHECKPOINT_LOCK = 'cordon/audit-checkpoint';

/**
 * Keeps the audit trail tamper-evident: signs a checkpoint of the chain's head now and then (and
 * at shutdown) outside the database, and walks the chain to name the first record that was
 * changed, deleted or inserted since it was written.
 */
export class AuditIntegrityService {
  #timer: NodeJS.Timeout | null = null;
  /** The newest position this node knows is checkpointed (by it or another node). */
  #lastSeq = -1;

  constructor(
    private readonly repo: AuditRepository,
    private readonly log: CheckpointLog,
    private readonly signer: CheckpointSigner,
    private readonly now: Clock,
    /** Nodes sharing the store and the checkpoint file write it one at a time (in-process: one caller at a time). */
    private readonly locks: Locks = new KeyedMutex(),
    private readonly logger?: Logger,
  ) {}

  /** Signs the chain's head when it moved since the last checkpoint; answers the new checkpoint, or null. */
  async checkpoint(): Promise<SignedCheckpoint | null> {
    // Nothing new since this node last looked: no need to queue behind the other nodes.
    if ((await this.repo.head()).seq <= this.#lastSeq) return null;
    // Every node checkpoints the shared chain into the shared file: one at a time, each reading
    // what the others wrote first, so the file holds each head once and in order, never two
    // appends interleaved (appends from several hosts on a network file system are not atomic).
    return this.locks.exclusive(CHECKPOINT_LOCK, async () => {
      const last = (await this.log.last())?.seq ?? 0;
      const head = await this.repo.head();
      if (head.seq <= last) {
        this.#lastSeq = last;
        return null;
      }
      const c = this.signer.sign({ seq: head.seq, hash: head.hash, time: this.now().toISOString() });
      await this.log.append(c);
      this.#lastSeq = head.seq;
      return c;
    });
  }

  start(intervalSeconds: number): void {
    this.#timer = setInterval(() => {
      this.checkpoint().catch((e: unknown) => this.logger?.error({ err: e }, 'audit checkpoint failed'));
    }, intervalSeconds * 1000);
    this.#timer.unref();
  }

  /** Stops the timer and writes a last checkpoint, so a clean shutdown leaves nothing unprotected. */
  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.checkpoint().catch((e: unknown) => this.logger?.error({ err: e }, 'audit checkpoint at shutdown failed'));
  }

  async verify(): Promise<AuditVerification> {
    const { checkpoints, badLine } = await this.log.read();
    const head = await this.repo.head();
    const last = checkpoints.at(-1) ?? null;
    let records = 0;
    const result = (firstBroken: BrokenRecord | null): AuditVerification => ({
      verified: firstBroken === null,
      records,
      checkpoints: checkpoints.length,
      lastCheckpoint: last ? { seq: last.seq, time: last.time } : null,
      sinceLastCheckpoint: Math.max(0, records - (last?.seq ?? 0)),
      firstBroken,
    });

    if (badLine !== null) return result({ seq: 0, id: null, time: null, reason: `line ${badLine} of the checkpoint file is not a checkpoint: the file was altered` });
    const bad = checkpoints.find((c) => !this.signer.verify(c));
    if (bad) return result({ seq: bad.seq, id: null, time: bad.time, reason: `the checkpoint of ${bad.time} (record ${bad.seq}) is not signed by this server's key: the checkpoint file was altered` });
    const signed = new Map<number, SignedCheckpoint>(checkpoints.map((c) => [c.seq, c]));

    let prev = GENESIS_HASH;
    let prevRow: { seq: number; id: number; time: string } | null = null;
    // Only up to the head read first: records appended while the walk runs are checked next time.
    for (let after = 0; after < head.seq; ) {
      const page = await this.repo.chainPage(after, Math.min(PAGE, head.seq - after));
      if (page.length === 0) break;
      for (const r of page) {
        const expected = records + 1;
        if (r.seq !== expected) return result({ seq: expected, id: null, time: null, reason: r.seq > expected ? `record${r.seq - expected > 1 ? `s ${expected} to ${r.seq - 1} are` : ` ${expected} is`} missing: deleted from the database` : `record ${r.seq} appears twice` });
        if (r.prev_hash !== prev) {
          // The record before was rewritten with a fresh hash, or this one was re-linked: name the earlier.
          const at = prevRow ?? { seq: r.seq, id: r.id, time: r.time };
          return result({ ...at, reason: `record ${r.seq} does not link to record ${r.seq - 1}: record ${r.seq - 1} was changed (and re-hashed) or replaced` });
        }
        if (auditRecordHash(prev, r) !== r.hash) return result({ seq: r.seq, id: r.id, time: r.time, reason: `record ${r.seq} was changed after it was written (its content no longer matches its hash)` });
        const cp = signed.get(r.seq);
        if (cp && cp.hash !== r.hash) return result({ seq: r.seq, id: r.id, time: r.time, reason: `record ${r.seq} differs from the signed checkpoint of ${cp.time}: the chain was rewritten` });
        records += 1;
        prev = r.hash;
        prevRow = { seq: r.seq, id: r.id, time: r.time };
        after = r.seq;
      }
    }
    if (records < head.seq) return result({ seq: records + 1, id: null, time: null, reason: `records ${records + 1} to ${head.seq} are missing: the chain's head says ${head.seq} were written` });
    if (prev !== head.hash) return result({ seq: records, id: prevRow?.id ?? null, time: prevRow?.time ?? null, reason: `the chain's head does not match record ${records}: the last records were changed or replaced` });
    const beyond = checkpoints.find((c) => c.seq > records);
    if (beyond) return result({ seq: records + 1, id: null, time: null, reason: `the signed checkpoint of ${beyond.time} covers ${beyond.seq} records; only ${records} remain: the last ones were deleted` });
    return result(null);
  }
}
