import type { ActionSpec } from '@cordon/protocol';
import type { ApiError } from '../errors.js';
import type { Eligibility } from '../services/machines.service.js';
import type { ScanPolicyService } from '../services/scan-policy.service.js';
import type { ActionHandler, ResolvedParameters } from './types.js';

/** Antivirus scans: a scan that gives no CPU share gets its device's from the scan policies. */
export class ScanHandler implements ActionHandler {
  readonly types = ['RunAntiVirusScan'] as const;

  constructor(private readonly policies: Pick<ScanPolicyService, 'cpuPercentsOf'>) {}

  async resolveParameters(_spec: ActionSpec, parameters: Record<string, unknown>, machines: Eligibility[]): Promise<ResolvedParameters> {
    const params = new Map<string, Record<string, unknown>>();
    const refused = new Map<string, ApiError>();
    if (parameters.cpuPercent !== undefined) {
      for (const m of machines) params.set(m.id, parameters);
      return { params, refused };
    }
    const shares = await this.policies.cpuPercentsOf(machines.map((m) => m.id));
    // Machines with the same share share one parameters object (one JSON text in the engine).
    const shared = new Map<number, Record<string, unknown>>();
    for (const m of machines) {
      const share = shares.get(m.id);
      if (share === undefined) {
        params.set(m.id, parameters);
        continue;
      }
      let p = shared.get(share);
      if (!p) shared.set(share, (p = { ...parameters, cpuPercent: share }));
      params.set(m.id, p);
    }
    return { params, refused };
  }
}
