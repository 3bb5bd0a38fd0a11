import type { RefusalReason } from '@cordon/protocol';
import type { Logger } from 'pino';
import type { ActionHandlers } from '../actions/index.js';
import type { Clock } from '../clock.js';
import type { EventHub } from '../events.js';
import type { Metrics } from '../metrics.js';
import type { ActionRow, ActionsRepository } from '../repositories/actions.repository.js';
import { commandFrame, E_FAIL, type ActionLifecycle, type AgentChannel } from './action-lifecycle.js';
import type { AuditService } from './audit.service.js';
import type { TimelineEvent, TimelineService } from './timeline.service.js';
import type { Transactor } from '../repositories/transactor.js';

/** How long after the last relayed delivery this node's acks wait (relays of one bulk action come faster than this). */
const RELAY_PAUSE_MS = 250;

/**
 * What agents say about their actions: connected (send what waits), started (acks, batched),
 * progress, result, refusal. Every change is a compare-and-set on the stored status, so late or
 * repeated reports cannot rewrite a finished action.
 */
export class AgentReportsService {
  #acks: { machineId: string; actionId: string; done: () => void; failed: (e: unknown) => void }[] = [];
  /** Ack batches being written now. */
  readonly #storing = new Set<Promise<void>>();
  #ackTimer?: NodeJS.Timeout;
  /** Bulk submissions still dispatching: ack bookkeeping waits so commands reach endpoints first. */
  #dispatching = 0;

  constructor(
    private readonly repo: ActionsRepository,
    private readonly tx: Transactor,
    private readonly life: ActionLifecycle,
    private readonly timeline: TimelineService,
    private readonly audit: AuditService,
    private readonly hub: EventHub,
    private readonly metrics: Metrics,
    private readonly channel: AgentChannel,
    private readonly now: Clock,
    private readonly logger: Logger,
    private readonly handlers: ActionHandlers,
  ) {}

  /** While a bulk submission dispatches, acks wait (commands first); call the answer when it is done. */
  holdAcks(): () => void {
    this.#dispatching++;
    return () => {
      this.#dispatching--;
      if (this.#dispatching === 0) this.#flushAcksSoon(0);
    };
  }

  /** The latest progress an agent reported for a running action (not stored: it matters only while it runs). */
  async agentProgress(machineId: string, actionId: string, percent: number, message: string | null): Promise<void> {
    // An agent may only speak about its own actions: another device's progress is not even pushed live.
    if (!(await this.life.own(machineId, actionId))) return;
    this.life.setProgress(machineId, actionId, percent, message);
  }

  /** Actions another node accepted for agents this node holds: each still pending is sent (or timed out). */
  async deliverActions(actionIds: string[]): Promise<void> {
    // Another node is dispatching (a bulk action is relayed in bursts): this node's ack bookkeeping
    // waits too, until the relays pause, so the store serves the dispatch first.
    const release = this.holdAcks();
    try {
      await this.#sendPending(await this.repo.getMany(actionIds));
    } finally {
      setTimeout(release, RELAY_PAUSE_MS).unref();
    }
  }

  /** Sends every pending action of these agents, as on their connecting (after notifications were missed). */
  async deliverPendingFor(machineIds: string[]): Promise<void> {
    for (const id of machineIds) await this.agentConnected(id);
  }

  /** Sends every pending action to an agent that just connected, oldest first. */
  async agentConnected(machineId: string): Promise<void> {
    await this.#sendPending(await this.repo.pendingFor(machineId));
  }

  /**
   * Sends each still-pending action to its agent, held by this node. An expired command would only
   * be refused by the agent: it ends as TimeOut here instead. Commands first, bookkeeping after, in
   * one write (a bulk action relays hundreds at once).
   */
  async #sendPending(rows: ActionRow[]): Promise<void> {
    const now = this.now().toISOString();
    const sent: string[] = [];
    for (const row of rows) {
      if (row.status !== 'Pending') continue;
      if (row.expires_at <= now) await this.life.timeOut(row, now);
      else if (this.channel.send(row.machine_id, commandFrame(row))) sent.push(row.id);
    }
    await this.repo.markDeliveredMany(sent, now);
  }

  /**
   * An agent started an action. Acks arriving together (a fleet answering a bulk action) are
   * applied in one transaction; the promise settles once this ack is stored, so the gateway still
   * handles each agent's frames in order.
   */
  agentAck(machineId: string, actionId: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#acks.push({ machineId, actionId, done: resolve, failed: reject });
      // While a bulk action is dispatching, bookkeeping waits (commands first): at most 5 s, so
      // overlapping bulk submissions cannot starve it, and longer than one 10,000-device dispatch.
      if (this.#dispatching > 0) this.#flushAcksSoon(5000);
      else if (this.#acks.length >= 500) this.#flushAcksSoon(0);
      else this.#flushAcksSoon(5);
    });
  }

  #flushAcksSoon(delayMs: number): void {
    if (delayMs === 0) {
      void this.#flushAcks().catch((err: unknown) => this.logger.error({ err }, 'storing agent acks failed'));
      return;
    }
    this.#ackTimer ??= setTimeout(() => void this.#flushAcks().catch((err: unknown) => this.logger.error({ err }, 'storing agent acks failed')), delayMs);
  }

  /**
   * Stores acks still waiting in the batch, after those already being stored (before a cancel
   * decides, and at shutdown): a batch taken by a flush in progress is not in `#acks` any more.
   */
  async drainAcks(): Promise<void> {
    await Promise.allSettled([...this.#storing]);
    await this.#flushAcks();
  }

  async #flushAcks(): Promise<void> {
    const storing = this.#storeAcks();
    this.#storing.add(storing);
    try {
      await storing;
    } finally {
      this.#storing.delete(storing);
    }
  }

  async #storeAcks(): Promise<void> {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    const batch = this.#acks.splice(0);
    if (batch.length === 0) return;
    try {
      // An agent may only speak about its own actions: each (machine, action) pair is checked.
      const claims = new Set(batch.map((a) => `${a.actionId}|${a.machineId}`));
      const rows = (await this.repo.getMany([...new Set(batch.map((a) => a.actionId))])).filter((r) => claims.has(`${r.id}|${r.machine_id}`));
      const byId = new Map(rows.map((r) => [r.id, r]));
      const events = (ids: string[]) => ids.map((id) => this.life.stateEvent(byId.get(id)!, 'InProgress', `${this.life.label(byId.get(id)!.type)} started on the device${byId.get(id)!.status === 'Cancelled' ? ' (it had already started when it was cancelled)' : ''}`));
      // An ack proves the agent holds the command: if it was cancelled meanwhile, the truth is that it
      // runs, unless the cancel stops it there (a scan): the cancel sent after it does.
      const stops = (id: string) => this.life.stopsWhenCancelled(byId.get(id)!.type);
      const values = { status: 'InProgress', updated_at: this.now().toISOString() };
      const timelineRows = (ids: string[]) => events(ids).map((e) => this.timeline.row(e));
      const moved = [
        ...(await this.repo.transitionMany([...byId.keys()].filter((id) => !stops(id)), ['Pending', 'Cancelled'], values, timelineRows)),
        ...(await this.repo.transitionMany([...byId.keys()].filter(stops), ['Pending'], values, timelineRows)),
      ];
      this.timeline.published(events(moved));
      for (const id of moved) {
        const row = byId.get(id)!;
        this.metrics.actions.inc({ type: row.type, status: 'InProgress' });
        this.hub.emit({ kind: 'action', actionId: id, machineId: row.machine_id, status: 'InProgress' });
      }
      // A cancelled action the agent had already started is in flight again: its handler re-derives what follows.
      await this.life.actionsChanged(moved.map((id) => byId.get(id)!).filter((r) => r.status === 'Cancelled'));
      await this.life.started(moved.map((id) => byId.get(id)!));
      for (const a of batch) a.done();
    } catch (e) {
      // Each ack's frame fails with the batch: an unreachable store has the gateway hand it in again
      // once the store answers, so an ack is never taken as stored when it was not.
      for (const a of batch) a.failed(e);
      throw e;
    }
  }

  async agentResult(machineId: string, actionId: string, status: 'Succeeded' | 'Failed', error: string | null, result: Record<string, unknown> | null): Promise<void> {
    const row = await this.life.own(machineId, actionId);
    if (row) {
      const values = {
        status,
        updated_at: this.now().toISOString(),
        error: status === 'Failed' ? (error ?? 'The agent reported a failure without a reason') : null,
        error_hresult: status === 'Failed' ? E_FAIL : 0,
        result: result ? JSON.stringify(result) : null,
      };
      const title = status === 'Succeeded' ? `${this.life.label(row.type)} succeeded` : `${this.life.label(row.type)} failed: ${error ?? 'no reason given'}`;
      // The result and its timeline event are stored together; what it means for the machine (the
      // handler) follows the commit, before live views hear of it. A cancelled action's real outcome
      // replaces the cancel, except the failure of one the cancel stopped (a scan): that stays Cancelled.
      const from = status === 'Failed' && this.life.stopsWhenCancelled(row.type) ? ['Pending', 'InProgress'] : ['Pending', 'InProgress', 'Cancelled'];
      await this.life.move(row, from, values, title, { error, result }, async () => {
        if (status === 'Succeeded') await this.handlers.for(row.type)?.succeeded?.(row, result);
      });
    }
    // Acknowledge even duplicates and unknown ids, so the agent's outbox drains.
    this.channel.send(machineId, { type: 'resultAck', actionId });
  }

  /** An agent would not run a command (bad signature, other machine, expired…): record why. */
  async agentRefused(machineId: string, actionId: string, reason: RefusalReason, detail: string): Promise<void> {
    this.metrics.commandsRefused.inc({ reason });
    // An agent may only speak about its own actions: a refusal naming another device's action stays
    // this device's record (timeline, audit) and is never linked to that action.
    const row = /^[0-9a-f-]{36}$/.test(actionId) ? await this.life.own(machineId, actionId) : undefined;
    const time = this.now().toISOString();
    const refused: TimelineEvent = { machineId, eventType: 'CommandRefused', title: `The agent refused a command (${reason}): ${detail}`, actionId: row ? row.id : null, data: { reason, detail } };
    const failed = row ? this.life.stateEvent(row, 'Failed', `${this.life.label(row.type)} refused by the agent: ${detail}`) : null;
    // The refusal, its audit record and the action's end are stored together.
    const moved = await this.tx(async (u) => {
      await u.timeline.insert(this.timeline.row(refused, time));
      await u.audit.append([this.audit.row({ actor: `agent:${machineId}`, action: 'RefuseCommand', targetType: 'agent', targetId: machineId, outcome: 'Refused', detail: { actionId, reason, detail } }, time)]);
      if (!row || !failed || !(await u.actions.transition(actionId, ['Pending', 'InProgress'], { status: 'Failed', updated_at: time, error: `The agent refused the command: ${detail}`, error_hresult: E_FAIL }))) return false;
      await u.timeline.insert(this.timeline.row(failed, time));
      return true;
    });
    this.timeline.published(moved && failed ? [refused, failed] : [refused]);
    if (moved && row) await this.life.announce(row, 'Failed');
    this.channel.send(machineId, { type: 'resultAck', actionId });
  }
}
