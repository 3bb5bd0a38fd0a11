import type { ActionSpec, Inventory } from '@cordon/protocol';
import type { MachineActionView } from '../api/schemas.js';
import type { ApiError } from '../errors.js';
import type { ActionRow } from '../repositories/actions.repository.js';
import type { MachineRow } from '../repositories/machines.repository.js';
import type { Eligibility } from '../services/machines.service.js';

/** Each machine's command parameters, and the machines refused with why. */
export interface ResolvedParameters {
  params: Map<string, Record<string, unknown>>;
  refused: Map<string, ApiError>;
}

/**
 * What is specific to some actions, kept out of the action engine (which knows no action type).
 * One handler serves the actions of one exclusion key (Isolate and Unisolate); every hook is
 * optional, and an action without a handler is just signed, delivered and tracked.
 */
export interface ActionHandler {
  readonly types: readonly string[];
  /** The parameters each machine's command carries, resolved at submission (default: as submitted). */
  resolveParameters?(spec: ActionSpec, parameters: Record<string, unknown>, machines: Eligibility[]): Promise<ResolvedParameters>;
  /** Its agent acknowledged these actions: they now run on the device (InProgress). */
  started?(rows: ActionRow[]): Promise<void>;
  /** A Succeeded result: apply what it means for the device, before `actionsChanged` runs. */
  succeeded?(row: ActionRow, result: Record<string, unknown> | null): Promise<void>;
  /** Actions of these types on these machines were submitted, revived or ended: re-derive what follows from them. */
  actionsChanged?(machineIds: string[]): Promise<void>;
  /** Whether what `type` establishes is in force on the device, so the action bar offers the action that reverses it. */
  engaged?(type: string, machine: MachineRow): boolean;
  /**
   * Views of its actions about to be answered (all of one read: an action or a page of them, so one
   * look-up serves them all): adds what lives elsewhere, e.g. the alerts a scan's detections became.
   */
  decorate?(views: MachineActionView[]): Promise<void>;
  /** An agent reported its inventory (hello or inventory frame), after the machine row was updated. */
  inventoryReported?(machineId: string, inventory: Inventory): Promise<void>;
}

/** The registered handlers, found by action type. */
export class ActionHandlers {
  readonly #byType = new Map<string, ActionHandler>();

  constructor(readonly all: readonly ActionHandler[]) {
    for (const h of all) for (const t of h.types) this.#byType.set(t, h);
  }

  for(type: string): ActionHandler | undefined {
    return this.#byType.get(type);
  }

  /** Lets each handler add to the views of its actions (one call per handler). */
  async decorate(views: MachineActionView[]): Promise<void> {
    const byHandler = new Map<ActionHandler, MachineActionView[]>();
    for (const v of views) {
      const h = this.#byType.get(v.type);
      if (h?.decorate) byHandler.set(h, [...(byHandler.get(h) ?? []), v]);
    }
    for (const [h, of] of byHandler) await h.decorate!(of);
  }

  /** Tells each handler which of its actions started on their devices. */
  async started(rows: ActionRow[]): Promise<void> {
    const byHandler = new Map<ActionHandler, ActionRow[]>();
    for (const r of rows) {
      const h = this.#byType.get(r.type);
      if (h?.started) byHandler.set(h, [...(byHandler.get(h) ?? []), r]);
    }
    for (const [h, of] of byHandler) await h.started!(of);
  }

  async inventoryReported(machineId: string, inventory: Inventory): Promise<void> {
    for (const h of this.all) await h.inventoryReported?.(machineId, inventory);
  }
}
