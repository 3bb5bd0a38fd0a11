import type { ScanPolicyView } from '../api/schemas.js';
import type { Principal } from '../auth/permissions.js';
import type { Clock } from '../clock.js';
import { NotFoundError } from '../errors.js';
import type { ScanPoliciesRepository, ScanPolicyRow } from '../repositories/scan-policies.repository.js';
import type { AuditService } from './audit.service.js';
import type { MachinesService } from './machines.service.js';

const scopeOf = (tag: string | null): string => (tag === null ? 'global' : `tag:${tag}`);

/**
 * Scan policies: the CPU share an antivirus scan may use when the analyst does not give one, set
 * globally and per device tag (a device group). A device's share is the lowest of its tags'
 * policies (the most careful group wins), else the global one, else the agent's own default (50 %);
 * it is resolved at submission and signed into the command.
 */
export class ScanPolicyService {
  constructor(
    private readonly repo: ScanPoliciesRepository,
    private readonly machines: MachinesService,
    private readonly audit: AuditService,
    private readonly now: Clock,
  ) {}

  async list(): Promise<ScanPolicyView[]> {
    return (await this.repo.all()).map(view);
  }

  async get(tag: string | null): Promise<ScanPolicyView> {
    const [row] = await this.repo.in([scopeOf(tag)]);
    if (!row) throw new NotFoundError('Scan policy', scopeOf(tag));
    return view(row);
  }

  async set(principal: Principal, tag: string | null, cpuPercent: number, comment: string | null): Promise<ScanPolicyView> {
    const row: ScanPolicyRow = { scope: scopeOf(tag), cpu_percent: cpuPercent, comment, updated_at: this.now().toISOString(), updated_by: principal.name };
    await this.repo.upsert(row);
    await this.audit.record({ actor: principal.name, action: 'SetScanPolicy', targetType: 'scanPolicy', targetId: row.scope, comment, outcome: 'Succeeded', detail: { cpuPercent } });
    return view(row);
  }

  async remove(principal: Principal, tag: string | null, comment: string | null): Promise<void> {
    if (!(await this.repo.delete(scopeOf(tag)))) throw new NotFoundError('Scan policy', scopeOf(tag));
    await this.audit.record({ actor: principal.name, action: 'DeleteScanPolicy', targetType: 'scanPolicy', targetId: scopeOf(tag), comment, outcome: 'Succeeded' });
  }

  /** Each machine's CPU share from the policies (absent: no policy applies; the agent's default holds). */
  async cpuPercentsOf(machineIds: string[]): Promise<Map<string, number>> {
    // As for isolation policies, only tags set through the API choose a policy.
    const tags = await this.machines.tagsOf(machineIds, { userOnly: true });
    const scopes = new Set(['global']);
    for (const list of tags.values()) for (const t of list) scopes.add(scopeOf(t));
    const policies = new Map((await this.repo.in([...scopes])).map((r) => [r.scope, Number(r.cpu_percent)]));
    const out = new Map<string, number>();
    for (const id of machineIds) {
      const byTag = (tags.get(id) ?? []).map((t) => policies.get(scopeOf(t))).filter((p): p is number => p !== undefined);
      const share = byTag.length > 0 ? Math.min(...byTag) : policies.get('global');
      if (share !== undefined) out.set(id, share);
    }
    return out;
  }
}

const view = (r: ScanPolicyRow): ScanPolicyView => ({
  scope: r.scope === 'global' ? 'global' : 'tag',
  tag: r.scope === 'global' ? null : r.scope.slice('tag:'.length),
  cpuPercent: Number(r.cpu_percent),
  comment: r.comment,
  updatedAt: r.updated_at,
  updatedBy: r.updated_by,
});
