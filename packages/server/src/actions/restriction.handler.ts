import { RestrictionReport, type Inventory } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events.js';
import type { ActionRow } from '../repositories/actions.repository.js';
import type { MachineRow, MachinesRepository } from '../repositories/machines.repository.js';
import type { TimelineService } from '../services/timeline.service.js';
import type { ActionHandler } from './types.js';

/** Reads a stored report; a row written by an older agent or by hand counts as no report. */
export function storedRestrictionReport(json: string | null): RestrictionReport | null {
  if (!json) return null;
  try {
    const r = RestrictionReport.safeParse(JSON.parse(json));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * Restrict and Unrestrict app execution: a result or an inventory carries the device's restriction
 * report, and the machine's `restrictionState` follows from it (Pending while one is in flight),
 * as isolation does. A guard that died or failed is put on the timeline: enforcement had a gap.
 */
export class RestrictionHandler implements ActionHandler {
  readonly types = ['RestrictCodeExecution', 'UnrestrictCodeExecution'] as const;

  constructor(
    private readonly machines: MachinesRepository,
    private readonly timeline: TimelineService,
    private readonly hub: EventHub,
    private readonly now: Clock,
  ) {}

  /** The device's report from the result, or what success means when an agent sent none. */
  async succeeded(row: ActionRow, result: Record<string, unknown> | null): Promise<void> {
    const sent = RestrictionReport.safeParse(result?.restriction);
    const [stored] = await this.machines.restrictionInputs([row.machine_id], this.types);
    const previous = storedRestrictionReport(stored?.restriction ?? null);
    const report = sent.success ? sent.data : this.#impliedReport(row);
    // An implied report does not replace the agent's own of the same state (its `since`, its guard).
    if (!sent.success && previous?.state === report.state) return;
    await this.machines.update(row.machine_id, { restriction: JSON.stringify(report) });
    await this.#noteGap(row.machine_id, previous, report);
  }

  async actionsChanged(machineIds: string[]): Promise<void> {
    await this.syncStates(machineIds);
  }

  engaged(type: string, machine: MachineRow): boolean {
    return type === 'RestrictCodeExecution' && machine.restriction_state === 'Restricted';
  }

  /**
   * An agent that says nothing about restriction (older versions) leaves the last report alone, and
   * one that repeats the stored report while the state already follows from it changes nothing.
   */
  async inventoryReported(machineId: string, inventory: Inventory): Promise<void> {
    if (!inventory.restriction) return;
    const [stored] = await this.machines.restrictionInputs([machineId], this.types);
    if (!stored) return;
    const report = JSON.stringify(inventory.restriction);
    if (stored.restriction === report && stored.restriction_state === (stored.busy ? 'Pending' : inventory.restriction.state)) return;
    if (stored.restriction !== report) {
      await this.machines.update(machineId, { restriction: report });
      await this.#noteGap(machineId, storedRestrictionReport(stored.restriction), inventory.restriction);
      // The guard's health and error change without the state: live views still show them.
      this.hub.emit({ kind: 'machine', machineId, change: 'restriction' });
    }
    await this.syncStates([machineId]);
  }

  /**
   * Derives `restrictionState`: Pending while a Restrict or Unrestrict is Pending or InProgress,
   * else what the agent last reported (Unrestricted when it never reported). Writes only what changed.
   */
  async syncStates(ids: string[]): Promise<void> {
    const byState = new Map<string, string[]>();
    for (const m of await this.machines.restrictionInputs(ids, this.types)) {
      const state = m.busy ? 'Pending' : (storedRestrictionReport(m.restriction)?.state ?? 'Unrestricted');
      if (state === m.restriction_state) continue;
      byState.set(state, [...(byState.get(state) ?? []), m.id]);
    }
    for (const [state, changed] of byState) {
      await this.machines.setRestrictionState(changed, state);
      for (const machineId of changed) this.hub.emit({ kind: 'machine', machineId, change: 'restriction' });
    }
  }

  /**
   * The guard stopped (the kernel let every program start until it came back) or reported a new
   * error: the analyst must see that enforcement had a gap, and when.
   */
  async #noteGap(machineId: string, previous: RestrictionReport | null, report: RestrictionReport): Promise<void> {
    const actor = `agent:${machineId}`;
    if (report.guard === 'restarting' && previous?.guard !== 'restarting') {
      const why = report.error ? `: ${report.error}` : '';
      await this.timeline.add({ machineId, eventType: 'RestrictionGuardFailed', title: `App restriction guard stopped; programs could start unchecked until it restarts${why}`, actor, data: { previous, report } });
    } else if (report.error && report.error !== previous?.error) {
      await this.timeline.add({ machineId, eventType: 'RestrictionGuardFailed', title: `App restriction problem: ${report.error}`, actor, data: { previous, report } });
    }
  }

  #impliedReport(row: ActionRow): RestrictionReport {
    if (row.type === 'RestrictCodeExecution') return { state: 'Restricted', since: this.now().toISOString(), guard: 'running', error: null, trusted: null };
    return { state: 'Unrestricted', since: null, guard: null, error: null, trusted: null };
  }
}
