import { RestrictionReport } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events.js';
import type { ActionRow } from '../repositories/actions.repository.js';
import type { MachinesRepository } from '../repositories/machines.repository.js';
import type { TimelineService } from '../services/timeline.service.js';
import { ReportedStateHandler } from './reported-state.js';

/**
 * Restrict and Unrestrict app execution: a result or an inventory carries the device's restriction
 * report, and `restrictionState` follows from it (Pending while one is in flight, Unrestricted when
 * it never reported). A guard that died or failed is put on the timeline: enforcement had a gap.
 */
export class RestrictionHandler extends ReportedStateHandler<'restriction'> {
  readonly types = ['RestrictCodeExecution', 'UnrestrictCodeExecution'] as const;

  constructor(
    machines: MachinesRepository,
    private readonly timeline: TimelineService,
    hub: EventHub,
    private readonly now: Clock,
  ) {
    // The guard's health and error change without the state: live views still show them.
    super(machines, hub, {
      column: 'restriction', schema: RestrictionReport, engaged: 'Restricted', unreported: 'Unrestricted', detailsShown: true,
      inputs: (ids, types) => machines.restrictionInputs(ids, types),
      setState: (ids, state) => machines.setRestrictionState(ids, state),
    });
  }

  /**
   * The guard stopped (the kernel let every program start until it came back) or reported a new
   * error: the analyst must see that enforcement had a gap, and when.
   */
  protected async noteReport(machineId: string, previous: RestrictionReport | null, report: RestrictionReport): Promise<void> {
    const actor = `agent:${machineId}`;
    if (report.guard === 'restarting' && previous?.guard !== 'restarting') {
      const why = report.error ? `: ${report.error}` : '';
      await this.timeline.add({ machineId, eventType: 'RestrictionGuardFailed', title: `App restriction guard stopped; programs could start unchecked until it restarts${why}`, actor, data: { previous, report } });
    } else if (report.error && report.error !== previous?.error) {
      await this.timeline.add({ machineId, eventType: 'RestrictionGuardFailed', title: `App restriction problem: ${report.error}`, actor, data: { previous, report } });
    }
  }

  protected impliedReport(row: ActionRow): RestrictionReport {
    if (row.type === 'RestrictCodeExecution') return { state: 'Restricted', since: this.now().toISOString(), guard: 'running', error: null, trusted: null };
    return { state: 'Unrestricted', since: null, guard: null, error: null, trusted: null };
  }
}
