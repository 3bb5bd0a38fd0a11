import type { ActionCatalog, ServerFrame } from '@cordon/protocol';
import type { ActionHandlers } from '../actions/index.js';
import type { MachineActionView } from '../api/schemas.js';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { ActionRow, ActionsRepository } from '../repositories/actions.repository.js';
import type { TimelineEvent, TimelineService } from './timeline.service.js';
import { ActionProgressBoard } from './action-progress.js';

/** The columns a state change writes, as the repository takes them. */
type ActionChange = Parameters<ActionsRepository['transitionMany']>[2];

/** How the engine reaches connected agents (implemented by the gateway). */
export interface AgentChannel {
  isConnected(machineId: string): boolean;
  /** Sends a frame if the agent is connected here; answers whether it was sent. */
  send(machineId: string, frame: ServerFrame): boolean;
  /** Asks the nodes holding these agents (several nodes) to send them these actions; agents held here are left out. */
  relay(items: { machineId: string; actionId: string }[]): void;
}

/** A failed action's errorHResult (E_FAIL), as MDE reports failures; 0 means success. */
export const E_FAIL = -2147467259;

/**
 * What every part of the action engine does the same way once an action's state moved: count it,
 * put it on the timeline, tell live views and the action's handler. Also delivery, time-outs and
 * the progress of running actions, which submission, agent reports and expiry all touch.
 */
export class ActionLifecycle {
  constructor(
    private readonly repo: ActionsRepository,
    private readonly timeline: TimelineService,
    private readonly hub: EventHub,
    private readonly metrics: Metrics,
    private readonly channel: AgentChannel,
    private readonly now: Clock,
    private readonly catalog: ActionCatalog,
    private readonly handlers: ActionHandlers,
    readonly progress: ActionProgressBoard = new ActionProgressBoard(),
  ) {}

  /** An action type as people name it. */
  label(type: string): string {
    return this.catalog.label(type);
  }

  /**
   * Whether a cancel stops the action on the device (a scan): then the device's report that it
   * stopped, or that it had started, does not undo the cancel.
   */
  stopsWhenCancelled(type: string): boolean {
    return this.catalog.get(type)?.cancelWhileRunning ?? false;
  }

  /** The latest progress an agent reported for a running action (not stored: it matters only while it runs). */
  setProgress(machineId: string, actionId: string, percent: number, message: string | null): void {
    this.progress.set({ actionId, machineId, percent, message, at: this.now().toISOString() });
    this.hub.emit({ kind: 'action', actionId, machineId, status: 'InProgress' });
  }

  /** An action's view, with its progress while it runs. */
  view(row: ActionRow): MachineActionView {
    const view = toView(row);
    const p = this.progress.get(row.id);
    if (p && p.machineId === row.machine_id && row.status === 'InProgress') view.progress = { percent: p.percent, message: p.message, at: p.at };
    return view;
  }

  /** Ends an action that passed its expiry as TimeOut; answers whether it was still active. */
  async timeOut(row: ActionRow, now: string): Promise<boolean> {
    const error = `The device did not complete the action before it expired at ${row.expires_at}`;
    return this.move(row, ['Pending', 'InProgress'], { status: 'TimeOut', updated_at: now, error, error_hresult: E_FAIL }, `${this.catalog.label(row.type)} timed out`);
  }

  /**
   * Ends an active action as Failed for a reason the server found (not one the agent reported);
   * answers whether it was still active. A later report from the agent cannot change it.
   */
  async fail(row: ActionRow, error: string): Promise<boolean> {
    return this.move(row, ['Pending', 'InProgress'], { status: 'Failed', updated_at: this.now().toISOString(), error, error_hresult: E_FAIL }, `${this.catalog.label(row.type)} failed: ${error}`, { error });
  }

  /** The action, if it belongs to this machine: an agent may only speak about its own actions. */
  async own(machineId: string, actionId: string): Promise<ActionRow | undefined> {
    const row = await this.repo.get(actionId);
    return row && row.machine_id === machineId ? row : undefined;
  }

  /**
   * Sends the signed command if its agent is connected here, or asks the node holding it to; it is
   * sent again whenever the agent connects.
   */
  async deliver(row: ActionRow): Promise<void> {
    const sent = this.channel.send(row.machine_id, commandFrame(row));
    if (sent) await this.repo.markDelivered(row.id, this.now().toISOString());
    else this.channel.relay([{ machineId: row.machine_id, actionId: row.id }]);
  }

  /**
   * Moves an action from one of `from` to `values.status`, storing its timeline event in the same
   * transaction; `then` runs after the commit, before live views and handlers hear of it.
   * Answers whether it moved (a late or duplicate report finds it moved already).
   */
  async move(row: ActionRow, from: string[], values: ActionChange & { status: string }, title: string, data?: Record<string, unknown>, then?: () => Promise<void>): Promise<boolean> {
    const event = this.stateEvent(row, values.status, title, null, data);
    const moved = await this.repo.transitionMany([row.id], from, values, (ids) => (ids.length > 0 ? [this.timeline.row(event)] : []));
    if (moved.length === 0) return false;
    await then?.();
    this.timeline.published([event]);
    await this.announce(row, values.status);
    return true;
  }

  /** What follows a committed state change (its timeline event stored with it): metrics, live views, handlers. */
  async announce(row: ActionRow, status: string): Promise<void> {
    this.metrics.actions.inc({ type: row.type, status });
    if (status !== 'InProgress') this.progress.delete(row.id);
    this.hub.emit({ kind: 'action', actionId: row.id, machineId: row.machine_id, status });
    await this.handlers.for(row.type)?.actionsChanged?.([row.machine_id]);
  }

  /** Tells the handlers of these actions that their agents started them. */
  async started(rows: ActionRow[]): Promise<void> {
    await this.handlers.started(rows);
  }

  /** Tells each handler which of its machines' actions changed (a batch moved at once). */
  async actionsChanged(rows: ActionRow[]): Promise<void> {
    const byHandler = new Map<NonNullable<ReturnType<ActionHandlers['for']>>, string[]>();
    for (const r of rows) {
      const h = this.handlers.for(r.type);
      if (h?.actionsChanged) byHandler.set(h, [...(byHandler.get(h) ?? []), r.machine_id]);
    }
    for (const [h, ids] of byHandler) await h.actionsChanged!(ids);
  }

  stateEvent(row: ActionRow, status: string, title: string, actor: string | null = null, data?: Record<string, unknown>): TimelineEvent {
    return { machineId: row.machine_id, eventType: 'ActionStateChanged', title, actor, actionId: row.id, data: { status, ...data } };
  }
}

export function commandFrame(row: ActionRow): ServerFrame {
  const proof = row.signature_proof ? (JSON.parse(row.signature_proof) as string[]) : undefined;
  return { type: 'command', command: { payload: row.signed_payload, signature: row.signature, keyId: row.key_id, ...(proof ? { proof } : {}) } };
}

export function toView(r: ActionRow): MachineActionView {
  return {
    id: r.id,
    type: r.type,
    scope: r.scope,
    requestor: r.requestor,
    requestorComment: r.requestor_comment,
    status: r.status,
    machineId: r.machine_id,
    computerDnsName: r.computer_dns_name,
    creationDateTimeUtc: r.created_at,
    lastUpdateDateTimeUtc: r.updated_at,
    cancellationRequestor: r.cancellation_requestor,
    cancellationComment: r.cancellation_comment,
    cancellationDateTimeUtc: r.cancellation_at,
    errorHResult: r.error_hresult,
    commands: [],
    error: r.error,
    result: r.result ? (JSON.parse(r.result) as Record<string, unknown>) : null,
    parameters: JSON.parse(r.parameters) as Record<string, unknown>,
    expirationDateTimeUtc: r.expires_at,
  };
}
