import type { Inventory } from '@cordon/protocol';
import type { z } from 'zod';
import type { EventHub } from '../events.js';
import type { ActionRow } from '../repositories/actions.repository.js';
import type { Enforcement, EnforcementInputs, MachineRow, MachinesRepository } from '../repositories/machines.repository.js';
import type { ActionHandler } from './types.js';

/** What the agent reports of an enforcement, under the same name in an inventory and a result. */
export type Report<E extends Enforcement> = NonNullable<Inventory[E]>;

/** Reads a stored report; a row written by an older agent or by hand counts as no report. */
export function storedReport<R>(schema: z.ZodType<R>, json: string | null): R | null {
  if (!json) return null;
  try {
    const r = schema.safeParse(JSON.parse(json));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** What sets one enforcement apart: its columns, its states, and the repository's methods for them. */
export interface EnforcementSpec<E extends Enforcement> {
  /** The machines column of the agent's last report (its state is in `<column>_state`), the report's key in inventories and results, and the hub's change. */
  column: E;
  schema: z.ZodType<Report<E>>;
  /** The state the first of `types` establishes (the action bar then offers the second), and that of a machine that never reported. */
  engaged: Report<E>['state'];
  unreported: Report<E>['state'];
  /** Whether live views show more of a report than its state (restriction's guard), so a changed report is pushed even when its state is not. */
  detailsShown: boolean;
  /** Each machine's stored report and state, and whether an action of `types` is active on it. */
  inputs(ids: string[], types: readonly string[]): Promise<EnforcementInputs<E>[]>;
  setState(ids: string[], state: string): Promise<void>;
}

/**
 * An enforcement the agent reports (isolation, restriction): a result or an inventory carries the
 * device's report, and the machine's state follows from it: Pending while an action of `types` is
 * Pending or InProgress, else what the agent last reported. Subclasses say what a new report means
 * beyond the state.
 */
export abstract class ReportedStateHandler<E extends Enforcement> implements ActionHandler {
  abstract readonly types: readonly [engage: string, release: string];

  protected constructor(
    private readonly machines: MachinesRepository,
    private readonly hub: EventHub,
    private readonly spec: EnforcementSpec<E>,
  ) {}

  /** What success of `row` means when its agent sent no report. */
  protected abstract impliedReport(row: ActionRow): Report<E>;
  /** A new report was stored: what it means beyond the state (a break-glass release, a guard gap). */
  protected abstract noteReport(machineId: string, previous: Report<E> | null, report: Report<E>): Promise<void>;

  /**
   * Stores the device's report from the result, or what success means when an agent sent none, so the
   * machine shows its new state before the next inventory; an implied report does not replace the
   * agent's own of the same state, which is more precise (its `since`, its guard).
   */
  async succeeded(row: ActionRow, result: Record<string, unknown> | null): Promise<void> {
    const sent = this.spec.schema.safeParse(result?.[this.spec.column]);
    const report = sent.success ? sent.data : this.impliedReport(row);
    const [stored] = await this.spec.inputs([row.machine_id], this.types);
    const previous = storedReport(this.spec.schema, stored?.[this.spec.column] ?? null);
    if (!sent.success && previous?.state === report.state) return;
    await this.#store(row.machine_id, report);
    await this.noteReport(row.machine_id, previous, report);
  }

  async actionsChanged(machineIds: string[]): Promise<void> {
    await this.syncStates(machineIds);
  }

  engaged(type: string, machine: MachineRow): boolean {
    return type === this.types[0] && machine[`${this.spec.column}_state`] === this.spec.engaged;
  }

  /**
   * An agent that says nothing of this enforcement (older versions) leaves the last report alone,
   * and one that repeats the stored report (every reconnect) while the state already follows from
   * it changes nothing: one read, no write. A state left behind by an interrupted write (a crash
   * between a result and its re-derivation) is repaired by the next inventory. Without a report a
   * hello costs no query, which matters for a fleet reconnecting at once: each statement
   * better-sqlite3 prepares holds native memory until it is collected.
   */
  async inventoryReported(machineId: string, inventory: Inventory): Promise<void> {
    const report = inventory[this.spec.column] as Report<E> | undefined;
    if (!report) return;
    const [stored] = await this.spec.inputs([machineId], this.types);
    if (!stored) return;
    const json = JSON.stringify(report);
    const storedJson = stored[this.spec.column];
    if (storedJson === json && stored[`${this.spec.column}_state`] === (stored.busy ? 'Pending' : report.state)) return;
    if (storedJson !== json) {
      await this.#store(machineId, report);
      await this.noteReport(machineId, storedReport(this.spec.schema, storedJson), report);
      if (this.spec.detailsShown) this.hub.emit({ kind: 'machine', machineId, change: this.spec.column });
    }
    await this.syncStates([machineId]);
  }

  /** Derives each machine's state (`unreported` when its agent never reported). Writes only what changed. */
  async syncStates(ids: string[]): Promise<void> {
    const byState = new Map<string, string[]>();
    for (const m of await this.spec.inputs(ids, this.types)) {
      const state = m.busy ? 'Pending' : (storedReport(this.spec.schema, m[this.spec.column])?.state ?? this.spec.unreported);
      if (state === m[`${this.spec.column}_state`]) continue;
      const list = byState.get(state) ?? [];
      list.push(m.id);
      byState.set(state, list);
    }
    for (const [state, changed] of byState) {
      await this.spec.setState(changed, state);
      for (const machineId of changed) this.hub.emit({ kind: 'machine', machineId, change: this.spec.column });
    }
  }

  async #store(machineId: string, report: Report<E>): Promise<void> {
    await this.machines.update(machineId, { [this.spec.column]: JSON.stringify(report) });
  }
}
