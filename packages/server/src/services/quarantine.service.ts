import type { QuarantinedFileView } from '../api/schemas.js';
import type { QuarantinedFileRow, QuarantineRepository } from '../repositories/quarantine.repository.js';
import type { MachinesService } from './machines.service.js';

/** A stored item as the API shows it. */
export function quarantinedFileView(r: QuarantinedFileRow): QuarantinedFileView {
  return {
    quarantineId: r.quarantine_id,
    machineId: r.machine_id,
    fileName: r.file_path.slice(r.file_path.lastIndexOf('/') + 1),
    filePath: r.file_path,
    sha256: r.sha256,
    sha1: r.sha1,
    size: Number(r.size),
    quarantinedAt: r.quarantined_at,
    quarantinedBy: r.quarantined_by,
    actionId: r.action_id,
    restoredAt: r.restored_at,
    restoredBy: r.restored_by,
    restoreActionId: r.restore_action_id,
    state: r.restored_at ? 'Restored' : 'Quarantined',
  };
}

/** What a device's quarantine vault holds (and held), as its agent reported it. */
export class QuarantineService {
  constructor(
    private readonly repo: QuarantineRepository,
    private readonly machines: MachinesService,
  ) {}

  /** A machine's quarantined files, newest first (restored ones too); 404 for an unknown machine. */
  async list(machineId: string): Promise<QuarantinedFileView[]> {
    await this.machines.row(machineId);
    return (await this.repo.ofMachine(machineId)).map(quarantinedFileView);
  }
}
