/** How far a running action got, as its agent last said. */
export interface ActionProgress {
  actionId: string;
  machineId: string;
  percent: number;
  message: string | null;
  at: string;
}

/**
 * The latest progress of running actions. It matters only while an action runs, so it is not
 * stored; with several nodes each report is also sent to the others (`forward`), so any node
 * shows the progress of an agent another node holds.
 */
export class ActionProgressBoard {
  readonly #latest = new Map<string, ActionProgress>();
  #forward: ((p: ActionProgress) => void) | null = null;

  set(p: ActionProgress): void {
    this.setLocal(p);
    this.#forward?.(p);
  }

  /** A report another node received. */
  setLocal(p: ActionProgress): void {
    if (this.#latest.size > 10_000) this.#latest.clear();
    this.#latest.set(p.actionId, p);
  }

  get(actionId: string): ActionProgress | undefined {
    return this.#latest.get(actionId);
  }

  /** The action ended: its progress goes (on every node, since each hears of the end). */
  delete(actionId: string): void {
    this.#latest.delete(actionId);
  }

  forward(to: (p: ActionProgress) => void): void {
    this.#forward = to;
  }
}
