import { IsolationReport, type ActionSpec, type AllowEntry, type Inventory } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import { BadRequestError, type ApiError } from '../errors.js';
import type { EventHub } from '../events.js';
import type { ActionRow } from '../repositories/actions.repository.js';
import type { MachineRow, MachinesRepository } from '../repositories/machines.repository.js';
import type { AuditService } from '../services/audit.service.js';
import type { Eligibility } from '../services/machines.service.js';
import type { TimelineEvent, TimelineService } from '../services/timeline.service.js';
import type { Transactor } from '../repositories/transactor.js';
import type { ActionHandler, ResolvedParameters } from './types.js';

/** Resolves each machine's selective-isolation allow list (implemented by IsolationPolicyService). */
export interface AllowListResolver {
  allowListsOf(machineIds: string[]): Promise<Map<string, AllowEntry[]>>;
}

/** Reads a stored report; a row written by an older agent or by hand counts as no report. */
export function storedIsolationReport(json: string | null): IsolationReport | null {
  if (!json) return null;
  try {
    const r = IsolationReport.safeParse(JSON.parse(json));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/**
 * Isolate and Unisolate: a Selective isolation carries the machine's allow list, resolved at
 * submission; a result or an inventory carries the device's isolation report; and the machine's
 * `isolationState` follows from both (Pending while one is in flight).
 */
export class IsolationHandler implements ActionHandler {
  readonly types = ['Isolate', 'Unisolate'] as const;

  constructor(
    private readonly machines: MachinesRepository,
    private readonly tx: Transactor,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
    private readonly hub: EventHub,
    private readonly allowLists: AllowListResolver,
    private readonly now: Clock,
  ) {}

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

  /** The device's report from the result, or what success means when an agent sent none. */
  async succeeded(row: ActionRow, result: Record<string, unknown> | null): Promise<void> {
    const sent = IsolationReport.safeParse(result?.isolation);
    await this.#applyReport(row.machine_id, sent.success ? sent.data : this.#impliedReport(row), { implied: !sent.success });
  }

  async actionsChanged(machineIds: string[]): Promise<void> {
    await this.syncStates(machineIds);
  }

  engaged(type: string, machine: MachineRow): boolean {
    return type === 'Isolate' && machine.isolation_state === 'Isolated';
  }

  /**
   * An agent that says nothing about isolation (older versions) leaves the last report alone, and
   * one that repeats the stored report (every reconnect) while the state already follows from it
   * changes nothing: one read, no write. A state left behind by an interrupted write (a crash
   * between a result and its re-derivation) is repaired by the next inventory. Without a report a
   * hello costs no isolation query, which matters for a fleet reconnecting at once: each statement
   * better-sqlite3 prepares holds native memory until it is collected.
   */
  async inventoryReported(machineId: string, inventory: Inventory): Promise<void> {
    if (!inventory.isolation) return;
    const [stored] = await this.machines.isolationInputs([machineId], this.types);
    if (!stored) return;
    const report = JSON.stringify(inventory.isolation);
    if (stored.isolation === report && stored.isolation_state === (stored.busy ? 'Pending' : inventory.isolation.state)) return;
    if (stored.isolation !== report) {
      await this.machines.update(machineId, { isolation: report });
      await this.#noteBreakGlass(machineId, storedIsolationReport(stored.isolation), inventory.isolation);
    }
    await this.syncStates([machineId]);
  }

  /**
   * Stores a report that arrived outside an inventory (with a result), so the machine shows its new
   * state without waiting for the next inventory. An `implied` report does not replace a stored one
   * that already says the same state: the agent's own report is more precise (its `since`).
   */
  async #applyReport(id: string, report: IsolationReport, opts: { implied: boolean }): Promise<void> {
    const previous = await this.#previousReport(id);
    if (!(opts.implied && previous?.state === report.state)) {
      await this.machines.update(id, { isolation: JSON.stringify(report) });
      await this.#noteBreakGlass(id, previous, report);
    }
  }

  async #previousReport(id: string): Promise<IsolationReport | null> {
    const [row] = await this.machines.isolationInputs([id], this.types);
    return storedIsolationReport(row?.isolation ?? null);
  }

  /** Someone on the device used a break-glass token: nobody asked through Cordon, so say so loudly. */
  async #noteBreakGlass(id: string, previous: IsolationReport | null, report: IsolationReport): Promise<void> {
    if (previous?.state !== 'Isolated' || report.state !== 'NotIsolated' || report.releasedBy !== 'breakGlass') return;
    const actor = `agent:${id}`;
    const event: TimelineEvent = { machineId: id, eventType: 'IsolationReleasedOnDevice', title: 'Isolation released on the device with a break-glass token', actor, data: { previous, report } };
    await this.tx(async (u) => {
      await u.timeline.insert(this.timeline.row(event));
      await u.audit.append([this.audit.row({ actor, action: 'ReleaseIsolationOnDevice', targetType: 'machine', targetId: id, outcome: 'Succeeded', detail: { previous, report } })]);
    });
    this.timeline.published([event]);
  }

  /**
   * Derives `isolationState`: Pending while an Isolate or Unisolate is Pending or InProgress, else
   * what the agent last reported (NotIsolated when it never reported). Writes only what changed.
   */
  async syncStates(ids: string[]): Promise<void> {
    const byState = new Map<string, string[]>();
    for (const m of await this.machines.isolationInputs(ids, this.types)) {
      const state = m.busy ? 'Pending' : (storedIsolationReport(m.isolation)?.state ?? 'NotIsolated');
      if (state === m.isolation_state) continue;
      const list = byState.get(state) ?? [];
      list.push(m.id);
      byState.set(state, list);
    }
    for (const [state, changed] of byState) {
      await this.machines.setIsolationState(changed, state);
      for (const machineId of changed) this.hub.emit({ kind: 'machine', machineId, change: 'isolation' });
    }
  }

  #impliedReport(row: ActionRow): IsolationReport {
    if (row.type === 'Isolate') return { state: 'Isolated', type: row.scope === 'Selective' ? 'Selective' : 'Full', since: this.now().toISOString(), releasedBy: null };
    return { state: 'NotIsolated', type: null, since: null, releasedBy: 'action' };
  }
}
