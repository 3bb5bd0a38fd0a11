import { IsolationReport, type ActionSpec, type AllowEntry } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import { BadRequestError, type ApiError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { ActionRow } from '../repositories/actions.repository.js';
import type { MachinesRepository } from '../repositories/machines.repository.js';
import type { AuditService } from '../services/audit.service.js';
import type { Eligibility } from '../services/machines.service.js';
import type { TimelineEvent, TimelineService } from '../services/timeline.service.js';
import type { Transactor } from '../repositories/transactor.js';
import { ReportedStateHandler } from './reported-state.js';
import type { ResolvedParameters } from './types.js';

/** Resolves each machine's selective-isolation allow list (implemented by IsolationPolicyService). */
export interface AllowListResolver {
  allowListsOf(machineIds: string[]): Promise<Map<string, AllowEntry[]>>;
}

/**
 * Isolate and Unisolate: a Selective isolation carries the machine's allow list, resolved at
 * submission; a result or an inventory carries the device's isolation report; and the machine's
 * `isolationState` follows from both (Pending while one is in flight, NotIsolated when it never reported).
 */
export class IsolationHandler extends ReportedStateHandler<'isolation'> {
  readonly types = ['Isolate', 'Unisolate'] as const;

  constructor(
    machines: MachinesRepository,
    private readonly tx: Transactor,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
    hub: EventHub,
    private readonly allowLists: AllowListResolver,
    private readonly now: Clock,
  ) {
    super(machines, hub, {
      column: 'isolation', schema: IsolationReport, engaged: 'Isolated', unreported: 'NotIsolated', detailsShown: false,
      inputs: (ids, types) => machines.isolationInputs(ids, types),
      setState: (ids, state) => machines.setIsolationState(ids, state),
    });
  }

  /**
   * A Selective isolation also carries the machine's own effective allow list, signed into the
   * command; a machine no policy applies to is refused (InvalidInput), since an empty Selective
   * isolation would silently be a Full one.
   */
  async resolveParameters(spec: ActionSpec, parameters: Record<string, unknown>, machines: Eligibility[]): Promise<ResolvedParameters> {
    const params = new Map<string, Record<string, unknown>>();
    const refused = new Map<string, ApiError>();
    if (spec.type !== 'Isolate' || parameters.isolationType !== 'Selective') {
      for (const m of machines) params.set(m.id, parameters);
      return { params, refused };
    }
    const lists = await this.allowLists.allowListsOf(machines.map((m) => m.id));
    // Machines with equal lists share one parameters object (and one JSON text in the engine).
    const shared = new Map<string, Record<string, unknown>>();
    for (const m of machines) {
      const allow = lists.get(m.id) ?? [];
      if (allow.length === 0) {
        refused.set(
          m.id,
          new BadRequestError(`No selective-isolation policy applies to ${m.computer_dns_name}; define one with PUT /api/isolationPolicies/global or /api/isolationPolicies/tags/{tag}`, 'IsolationType', 'InvalidInput'),
        );
        continue;
      }
      const key = JSON.stringify(allow);
      let p = shared.get(key);
      if (!p) shared.set(key, (p = { ...parameters, allow }));
      params.set(m.id, p);
    }
    return { params, refused };
  }

  /** Someone on the device used a break-glass token: nobody asked through Cordon, so say so loudly. */
  protected async noteReport(id: string, previous: IsolationReport | null, report: IsolationReport): Promise<void> {
    if (previous?.state !== 'Isolated' || report.state !== 'NotIsolated' || report.releasedBy !== 'breakGlass') return;
    const actor = `agent:${id}`;
    const event: TimelineEvent = { machineId: id, eventType: 'IsolationReleasedOnDevice', title: 'Isolation released on the device with a break-glass token', actor, data: { previous, report } };
    await this.tx(async (u) => {
      await u.timeline.insert(this.timeline.row(event));
      await u.audit.append([this.audit.row({ actor, action: 'ReleaseIsolationOnDevice', targetType: 'machine', targetId: id, outcome: 'Succeeded', detail: { previous, report } })]);
    });
    this.timeline.published([event]);
  }

  protected impliedReport(row: ActionRow): IsolationReport {
    if (row.type === 'Isolate') return { state: 'Isolated', type: row.scope === 'Selective' ? 'Selective' : 'Full', since: this.now().toISOString(), releasedBy: null };
    return { state: 'NotIsolated', type: null, since: null, releasedBy: 'action' };
  }
}
