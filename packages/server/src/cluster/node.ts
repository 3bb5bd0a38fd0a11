import type { Logger } from 'pino';
import type { ServerFrame } from '@cordon/protocol';
import type { Clock } from '../clock.js';
import type { EventHub, RevocationSignal } from '../events.js';
import type { AgentGateway } from '../gateway/gateway.js';
import type { NodesRepository } from '../repositories/nodes.repository.js';
import type { AgentChannel } from '../services/action-lifecycle.js';
import type { ActionProgressBoard } from '../services/action-progress.js';
import type { AgentConnections } from '../services/enrollment.service.js';
import type { BusMessage, ClusterBus } from './bus.js';

/** How often a node says it is alive; one silent for three of these is dead. */
export const NODE_HEARTBEAT_MS = 5000;
const DEAD_AFTER_MS = 3 * NODE_HEARTBEAT_MS;
/** A node seen since this time is alive. */
const liveSince = (now: Date) => new Date(now.getTime() - DEAD_AFTER_MS).toISOString();

/** What the node does with actions relayed to it and after catching up (bound to the action engine). */
export interface RelayTarget {
  /** Sends these actions to their agents, which this node holds (read from the store). */
  deliverActions(actionIds: string[]): Promise<void>;
  /** Sends every pending action of these agents (after a missed notification). */
  deliverPendingFor(machineIds: string[]): Promise<void>;
  /** Records AgentOffline for agents whose timeline shows them online but no live node holds. */
  recordOffline(heldByLiveNodes: Set<string>): Promise<number>;
}

/** Sends a stored live-response line, or a shell's input chunk, to its agent, which this node holds. */
export interface LiveLineTarget {
  sendStoredLine(sessionId: string, seq: number): Promise<void>;
  sendStoredInput(sessionId: string, seq: number, chunk: number): Promise<void>;
}

/**
 * This server node among the others on the same store. It is the agent channel the action engine
 * uses: an agent this node holds is sent to directly; one held elsewhere is reached through the
 * bus (the holder reads the action from the store). It records which agents it holds, keeps a copy
 * of which node holds the rest (the store is the truth; the copy is refreshed on every bus message,
 * resync and heartbeat), says it is alive, and releases the agents of nodes that died.
 */
export class ClusterNode implements AgentChannel, AgentConnections {
  /** Agents held by other live nodes (machine id -> node id). */
  readonly #elsewhere = new Map<string, string>();
  #target?: RelayTarget;
  #lines?: LiveLineTarget;
  #timer?: NodeJS.Timeout;
  #stopped = false;

  constructor(
    readonly bus: ClusterBus,
    private readonly nodes: NodesRepository,
    private readonly gateway: AgentGateway,
    private readonly hub: EventHub,
    private readonly revocations: RevocationSignal,
    private readonly progress: ActionProgressBoard,
    private readonly now: Clock,
    private readonly logger: Logger,
    /** False for a single node on SQLite: any other node in the store is an earlier run of this one. */
    private readonly shared: boolean,
  ) {
    bus.subscribe((m) => this.#handle(m));
    bus.onResync(() => this.#resync());
    hub.forward((event) => void this.#publish({ topic: 'event', event }));
    revocations.forward(() => void this.#publish({ topic: 'revoked' }));
    progress.forward((p) => void this.#publish({ topic: 'progress', progress: p }));
  }

  get id(): string {
    return this.bus.nodeId;
  }

  attach(target: RelayTarget): void {
    this.#target = target;
  }

  /** Where live-response lines relayed to this node go (the live-response sessions). */
  attachLive(target: LiveLineTarget): void {
    this.#lines = target;
  }

  /** Joins the cluster: registers this node, listens, learns who holds which agent, and closes what dead nodes left open. */
  async start(name: string): Promise<void> {
    const now = this.now();
    await this.nodes.register(this.id, name, now.toISOString());
    if (!this.shared) await this.nodes.releaseDead(now.toISOString());
    await this.bus.start();
    await this.#reloadPresence();
  }

  /** Starts the heartbeat (and the dead-node sweep with it) once the node serves. */
  beat(): void {
    this.#timer = setInterval(() => void this.#tick().catch((err: unknown) => this.logger.error({ err }, 'node heartbeat failed')), NODE_HEARTBEAT_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.bus.close();
    await this.nodes.stopped(this.id, this.now().toISOString()).catch((err: unknown) => this.logger.warn({ err }, 'could not record this node as stopped'));
  }

  /** Agents connected to any live node. */
  isConnected(machineId: string): boolean {
    return this.gateway.isConnected(machineId) || this.#elsewhere.has(machineId);
  }

  /** Agents other live nodes hold. */
  heldElsewhere(): Set<string> {
    return new Set(this.#elsewhere.keys());
  }

  send(machineId: string, frame: ServerFrame): boolean {
    if (this.gateway.send(machineId, frame)) return true;
    if (!this.#elsewhere.has(machineId)) return false;
    // Commands go by action id (relay), live lines by their number (a line can be too long for the
    // bus); a small frame such as a cancel goes as it is.
    if (frame.type === 'liveCommand') void this.#publish({ topic: 'liveLine', machineId, sessionId: frame.sessionId, seq: frame.seq });
    else if (frame.type === 'liveInput') void this.#publish({ topic: 'liveInput', machineId, sessionId: frame.sessionId, seq: frame.seq, chunk: frame.chunk });
    else if (frame.type !== 'command') void this.#publish({ topic: 'frame', machineId, frame });
    return false;
  }

  /** Sends a small frame to every agent with `capability`, on this node and (through the bus) the others. */
  broadcast(frame: ServerFrame, capability: string): void {
    this.gateway.broadcast(frame, capability);
    void this.#publish({ topic: 'broadcast', frame, capability });
  }

  /** Asks the other nodes to send these actions to their agents (this node does not hold them). */
  relay(items: { machineId: string; actionId: string }[]): void {
    const remote = items.filter((i) => !this.gateway.isConnected(i.machineId));
    if (remote.length) void this.#publish({ topic: 'deliver', items: remote });
  }

  disconnect(machineId: string): void {
    this.gateway.disconnect(machineId);
    void this.#publish({ topic: 'disconnect', machineId });
  }

  /** The gateway's word that this node now holds the agent (before it counts as connected anywhere). */
  async agentConnected(machineId: string): Promise<void> {
    this.#elsewhere.delete(machineId);
    await this.nodes.connected(machineId, this.id, this.now().toISOString());
    await this.#publish({ topic: 'presence', machineId, nodeId: this.id, held: true });
  }

  async agentDisconnected(machineId: string): Promise<void> {
    if (this.#stopped) return;
    await this.nodes.disconnected(machineId, this.id);
    await this.#publish({ topic: 'presence', machineId, nodeId: this.id, held: false });
  }

  /** The live nodes, for /api/health. */
  async liveNodes(): Promise<{ id: string; name: string; startedAt: string; lastSeenAt: string }[]> {
    const rows = await this.nodes.live(liveSince(this.now()));
    return rows.map((r) => ({ id: r.id, name: r.name, startedAt: r.started_at, lastSeenAt: r.last_seen_at }));
  }

  async #publish(message: BusMessage): Promise<void> {
    await this.bus.publish([message]).catch((err: unknown) => this.logger.warn({ err, topic: message.topic }, 'could not tell the other nodes (they catch up from the store)'));
  }

  #handle(m: BusMessage): void {
    switch (m.topic) {
      case 'presence':
        // A node letting go of an agent that has since moved on to another says nothing about it.
        if (m.held) this.#elsewhere.set(m.machineId, m.nodeId);
        else if (this.#elsewhere.get(m.machineId) === m.nodeId) this.#elsewhere.delete(m.machineId);
        return;
      case 'deliver': {
        const mine = m.items.filter((i) => this.gateway.isConnected(i.machineId)).map((i) => i.actionId);
        if (mine.length) void this.#target?.deliverActions(mine).catch((err: unknown) => this.logger.error({ err }, 'delivering relayed actions failed'));
        return;
      }
      case 'frame':
        this.gateway.send(m.machineId, m.frame);
        return;
      case 'liveLine':
        if (this.gateway.isConnected(m.machineId)) void this.#lines?.sendStoredLine(m.sessionId, m.seq).catch((err: unknown) => this.logger.error({ err }, 'sending a relayed live-response line failed'));
        return;
      case 'liveInput':
        if (this.gateway.isConnected(m.machineId)) void this.#lines?.sendStoredInput(m.sessionId, m.seq, m.chunk).catch((err: unknown) => this.logger.error({ err }, 'sending relayed shell input failed'));
        return;
      case 'broadcast':
        this.gateway.broadcast(m.frame, m.capability);
        return;
      case 'event':
        this.hub.emitLocal(m.event);
        return;
      case 'revoked':
        this.revocations.revokedLocal();
        return;
      case 'progress':
        this.progress.setLocal(m.progress);
        return;
      case 'disconnect':
        this.gateway.disconnect(m.machineId);
        return;
    }
  }

  async #reloadPresence(): Promise<void> {
    const held = await this.nodes.held(liveSince(this.now()));
    this.#elsewhere.clear();
    for (const r of held) if (r.node_id !== this.id) this.#elsewhere.set(r.machine_id, r.node_id);
  }

  /** After the bus was away: who holds what, and every pending action of the agents held here. */
  async #resync(): Promise<void> {
    await this.#reloadPresence();
    await this.#target?.deliverPendingFor(this.gateway.connectedIds());
  }

  async #tick(): Promise<void> {
    const now = this.now();
    await this.nodes.heartbeat(this.id, now.toISOString());
    const released = await this.nodes.releaseDead(liveSince(now));
    await this.#reloadPresence();
    await this.nodes.pruneNodes(new Date(now.getTime() - 7 * 86400_000).toISOString());
    if (released.length > 0) {
      this.logger.warn({ agents: released.length }, 'released the agents of a node that stopped answering');
      const held = new Set([...this.#elsewhere.keys(), ...this.gateway.connectedIds()]);
      await this.#target?.recordOffline(held);
    }
  }
}
