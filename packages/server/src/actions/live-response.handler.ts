import type { ActionRow } from '../repositories/actions.repository.js';
import type { ActionHandler } from './types.js';

/** What a session needs to hear of its action (bound late: the sessions service is built on the action engine). */
export interface LiveSessionHooks {
  sessionsStarted(rows: ActionRow[]): Promise<void>;
  sessionsChanged(machineIds: string[]): Promise<void>;
}

/**
 * Live response: a session's action started (it lasts while it is used from then on) or moved
 * (a session that ended ends the lines still running in it).
 */
export class LiveResponseHandler implements ActionHandler {
  readonly types = ['LiveResponse'] as const;
  #sessions?: LiveSessionHooks;

  bind(sessions: LiveSessionHooks): void {
    this.#sessions = sessions;
  }

  async started(rows: ActionRow[]): Promise<void> {
    await this.#sessions?.sessionsStarted(rows);
  }

  async actionsChanged(machineIds: string[]): Promise<void> {
    await this.#sessions?.sessionsChanged(machineIds);
  }
}
