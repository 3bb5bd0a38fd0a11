import { RestoreQuarantinedFileResult, StopAndQuarantineFileResult, type ActionSpec } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import { ApiError, BadRequestError } from '../errors.js';
import type { ActionRow } from '../repositories/actions.repository.js';
import type { QuarantineRepository } from '../repositories/quarantine.repository.js';
import type { Eligibility } from '../services/machines.service.js';
import type { ActionHandler, ResolvedParameters } from './types.js';

/**
 * StopAndQuarantineFile and RestoreQuarantinedFile: each file a quarantine moved is stored from its
 * result (the device's quarantine list), a restore is refused at submission for an item the device
 * does not hold (404) or that is back already, and a restore's result marks the item restored.
 */
export class QuarantineHandler implements ActionHandler {
  readonly types = ['StopAndQuarantineFile', 'RestoreQuarantinedFile'] as const;

  constructor(
    private readonly repo: QuarantineRepository,
    private readonly now: Clock,
  ) {}

  async resolveParameters(spec: ActionSpec, parameters: Record<string, unknown>, machines: Eligibility[]): Promise<ResolvedParameters> {
    const params = new Map<string, Record<string, unknown>>();
    const refused = new Map<string, ApiError>();
    for (const m of machines) {
      if (spec.type === 'RestoreQuarantinedFile') {
        const id = String(parameters.quarantineId);
        const item = await this.repo.get(m.id, id);
        if (!item) {
          refused.set(m.id, new ApiError(404, 'ResourceNotFound', `No quarantined file ${id} on ${m.computer_dns_name}; GET /api/machines/${m.id}/quarantine lists its quarantined files`, 'QuarantineId'));
          continue;
        }
        if (item.restored_at) {
          refused.set(m.id, new BadRequestError(`Quarantined file ${id} was restored already (${item.restored_at}, by ${item.restored_by ?? 'unknown'})`, 'QuarantineId', 'InvalidInput'));
          continue;
        }
      }
      params.set(m.id, parameters);
    }
    return { params, refused };
  }

  async succeeded(row: ActionRow, result: Record<string, unknown> | null): Promise<void> {
    if (row.type === 'StopAndQuarantineFile') {
      const r = StopAndQuarantineFileResult.safeParse(result);
      if (!r.success) return;
      await this.repo.insertMany(
        r.data.quarantined.map((f) => ({
          machine_id: row.machine_id,
          quarantine_id: f.quarantineId,
          file_path: f.path,
          sha256: f.sha256,
          sha1: f.sha1,
          size: f.size,
          quarantined_at: f.quarantinedAt,
          quarantined_by: row.requestor,
          action_id: row.id,
        })),
      );
      return;
    }
    const r = RestoreQuarantinedFileResult.safeParse(result);
    if (r.success) await this.repo.markRestored(row.machine_id, r.data.quarantineId, this.now().toISOString(), row.requestor, row.id);
  }
}
