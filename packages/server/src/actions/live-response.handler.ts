import type { ActionSpec } from '@cordon/protocol';
import type { MachineActionView } from '../api/schemas.js';
import { ApiError } from '../errors.js';
import type { ActionRow } from '../repositories/actions.repository.js';
import type { Eligibility } from '../services/machines.service.js';
import type { LiveBatchService } from '../services/live-batch.service.js';
import type { ActionHandler, ResolvedParameters } from './types.js';

/** What a session needs to hear of its action (bound late: the sessions service is built on the action engine). */
export interface LiveSessionHooks {
  sessionsStarted(rows: ActionRow[]): Promise<void>;
  sessionsChanged(machineIds: string[]): Promise<void>;
}

/**
 * Live response: a session's action started (it lasts while it is used from then on) or moved
 * (a session that ended ends the lines still running in it); a batch (runliveresponse) has its
 * commands checked and resolved before it is signed, and its views show each command's outcome.
 */
export class LiveResponseHandler implements ActionHandler {
  readonly types = ['LiveResponse'] as const;
  #sessions?: LiveSessionHooks;
  #batch?: LiveBatchService;

  bind(sessions: LiveSessionHooks, batch: LiveBatchService): void {
    this.#sessions = sessions;
    this.#batch = batch;
  }

  /** A batch is checked once (the same commands go to every device); a bad command refuses it everywhere. */
  async resolveParameters(_spec: ActionSpec, parameters: Record<string, unknown>, machines: Eligibility[]): Promise<ResolvedParameters> {
    if (!('commands' in parameters) || !this.#batch) return { params: new Map(machines.map((m) => [m.id, parameters])), refused: new Map() };
    try {
      const resolved = await this.#batch.resolve(parameters);
      return { params: new Map(machines.map((m) => [m.id, resolved])), refused: new Map() };
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return { params: new Map(), refused: new Map(machines.map((m) => [m.id, e])) };
    }
  }

  async decorate(views: MachineActionView[]): Promise<void> {
    this.#batch?.decorate(views);
  }

  async started(rows: ActionRow[]): Promise<void> {
    await this.#sessions?.sessionsStarted(rows);
  }

  async actionsChanged(machineIds: string[]): Promise<void> {
    await this.#sessions?.sessionsChanged(machineIds);
  }
}
