import type { Clock } from '../clock.js';
import type { AuditRepository, AuditRow, NewAuditRecord } from '../repositories/audit.repository.js';
import type { AuditRecordView } from '../api/schemas.js';

export interface AuditEntry {
  actor: string;
  action: string;
  targetType: 'machine' | 'action' | 'token' | 'app' | 'enrollmentToken' | 'agent' | 'isolationPolicy' | 'user' | 'content' | 'request' | 'alert' | 'indicator' | 'rulepack' | 'scanPolicy' | 'libraryFile' | 'deviceGroup';
  targetId?: string | null;
  comment?: string | null;
  outcome: 'Succeeded' | 'Failed' | 'Refused';
  detail?: Record<string, unknown>;
}

/** Every user action becomes one audit record: who, what, on what, why, and how it ended. */
export class AuditService {
  constructor(private readonly repo: AuditRepository, private readonly now: Clock) {}

  async record(e: AuditEntry): Promise<void> {
    await this.repo.insert(this.row(e));
  }

  /** The stored form of an entry, for callers that write it inside their own transaction. */
  row(e: AuditEntry, time = this.now().toISOString()): NewAuditRecord {
    return {
      time,
      actor: e.actor,
      action: e.action,
      target_type: e.targetType,
      target_id: e.targetId ?? null,
      comment: e.comment ?? null,
      outcome: e.outcome,
      detail: e.detail ? JSON.stringify(e.detail) : null,
    };
  }

  async list(top: number, skip: number): Promise<AuditRecordView[]> {
    return (await this.repo.list(top, skip)).map(toApi);
  }
}

function toApi(r: AuditRow): AuditRecordView {
  return { id: r.id, time: r.time, actor: r.actor, action: r.action, targetType: r.target_type, targetId: r.target_id, comment: r.comment, outcome: r.outcome, detail: r.detail ? (JSON.parse(r.detail) as unknown) : null, seq: Number(r.seq), hash: r.hash };
}
