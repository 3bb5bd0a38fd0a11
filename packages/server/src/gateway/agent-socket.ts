import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { AGENT_CONTENT, assertNever, CLOSE_CREDENTIAL_IN_USE, CLOSE_CREDENTIAL_REVOKED, CONTENT_CAPABILITY, decodeAgentFrame, type AgentFrame, Inventory, MAX_AGENT_FRAME_BYTES, PROTOCOL_VERSION, refuseStream, type LiveCompletionFrame, type LiveDoneFrame, type LiveOutputFrame, type ServerFrame } from '@cordon/protocol';
import { isStoreUnreachable } from '../db/portable.js';
import type { Metrics } from '../metrics.js';
import type { AgentChannel } from '../services/action-lifecycle.js';
import type { AgentReportsService } from '../services/agent-reports.service.js';
import { KeyedMutex } from '../services/counters.js';
import type { ContentService } from '../services/content.service.js';
import type { DeviceEventsSink } from '../services/device-events.service.js';
import type { MachinesService } from '../services/machines.service.js';
import type { TimelineService } from '../services/timeline.service.js';

const HELLO_TIMEOUT_MS = 10_000;
/** Per connection: bursts up to 200 frames, then 50 frames a second (heartbeats are one per 30 s). */
const FRAME_BURST = 200;
const FRAMES_PER_SECOND = 50;
/** A revoked agent that does not answer the close handshake is cut off after this long. */
const REVOKED_CLOSE_GRACE_MS = 500;
/** How long a connected agent has to answer a ping before a newcomer with its credential replaces it. */
const PING_PROBE_MS = 2000;
/** While the store is unreachable, a frame waiting for it asks again this often. */
const STORE_RETRY_MS = 1000;

interface Connection {
  machineId: string;
  /** Where it connects from, for the record when a credential is used twice. */
  address: string | null;
  ws: WebSocket;
  lastFrameAt: number;
  /** Set when the hello frame arrived: frames after it queue behind its handling. */
  helloReceived: boolean;
  /** Set once the hello was handled: the agent counts as connected and may be sent commands. */
  helloDone: boolean;
  /** Set when a bad frame closed the connection: nothing after it is routed. */
  rejected: boolean;
  /** Frame budget (token bucket): an agent flooding the server is cut off, not obeyed. */
  tokens: number;
  refilledAt: number;
  /** Frames of one agent are handled strictly in order (an ack before its result). */
  queue: Promise<void>;
  /** What the agent said it can do (hello, then each inventory): frames it would not know are not sent to it. */
  capabilities: Set<string>;
}

/** Where a live-response session's output from this node's agents goes (the live-response sessions). */
export interface LiveFramesSink {
  agentOutput(machineId: string, frame: LiveOutputFrame): Promise<void>;
  agentDone(machineId: string, frame: LiveDoneFrame): Promise<void>;
  agentCompletion(machineId: string, frame: LiveCompletionFrame): Promise<void>;
}

/** What the agent sockets need from the rest of the server. */
/** Told when this node takes or loses an agent's connection (several nodes keep track of who holds which). */
export interface AgentPresence {
  agentConnected(machineId: string): Promise<void>;
  agentDisconnected(machineId: string): Promise<void>;
}

export interface AgentSocketDeps {
  machines: MachinesService;
  timeline: TimelineService;
  deviceEvents: DeviceEventsSink;
  metrics: Metrics;
  logger: Logger;
  heartbeatSeconds: number;
  /** How long a new connection has to send its hello (default 10 s). */
  helloTimeoutMs?: number;
  /** Whether this node's store answers now (cached: every connection may ask); none means it always does. */
  storeAnswers?: () => Promise<boolean>;
}

/**
 * One WebSocket per agent, opened only for a request whose device credential the gateway has
 * checked. Each frame is validated against the protocol before it is routed; a bad frame, a frame
 * before hello or a flood closes the connection.
 */
export class AgentSockets implements Omit<AgentChannel, 'relay'> {
  readonly #connections = new Map<string, Connection>();
  /** Per device, the hello being handled (the next one waits for it). */
  readonly #hellos = new KeyedMutex();
  /** Every open socket, said hello or not: a revocation must reach those still in their handshake. */
  readonly #sockets = new Set<Connection>();
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_AGENT_FRAME_BYTES, perMessageDeflate: false });
  #actions?: AgentReportsService;
  #content?: ContentService;
  #live?: LiveFramesSink;
  #presence?: AgentPresence;
  #closing = false;

  constructor(private readonly deps: AgentSocketDeps) {}

  /** Gives frames an engine to go to (frames are not routed before this), and the content agents are told of at hello. */
  attach(actions: AgentReportsService, content?: ContentService, live?: LiveFramesSink): void {
    this.#actions = actions;
    this.#content = content;
    this.#live = live;
  }

  /** Tells `presence` of every connection this node takes or loses. */
  trackPresence(presence: AgentPresence): void {
    this.#presence = presence;
  }

  /** Completes the upgrade for `machineId`, whose device credential the caller has checked. */
  accept(machineId: string, req: IncomingMessage, socket: Socket, head: Buffer): void {
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#open(machineId, ws, req.socket.remoteAddress ?? null));
  }

  /** Closes every connection and waits for the frames already received to be handled. */
  async close(): Promise<void> {
    // A shutdown is not the agents going offline: #closed records nothing from here on.
    this.#closing = true;
    for (const c of this.#connections.values()) c.ws.close(1001, 'server shutting down');
    await Promise.all([...this.#connections.values()].map((c) => c.queue));
    this.#connections.clear();
  }

  /** Agents with a connection (hello done or not). */
  get connectedCount(): number {
    return this.#connections.size;
  }

  isConnected(machineId: string): boolean {
    return this.#connections.get(machineId)?.helloDone === true;
  }

  /** The agents connected here (hello done). */
  connectedIds(): string[] {
    return [...this.#connections.values()].filter((c) => c.helloDone).map((c) => c.machineId);
  }

  send(machineId: string, frame: ServerFrame): boolean {
    const c = this.#connections.get(machineId);
    if (!c || !c.helloDone || c.ws.readyState !== c.ws.OPEN) return false;
    c.ws.send(JSON.stringify(frame));
    return true;
  }

  /** Sends `frame` to every agent connected here whose capabilities include `capability`; answers how many. */
  broadcast(frame: ServerFrame, capability: string): number {
    const text = JSON.stringify(frame);
    let sent = 0;
    for (const c of this.#connections.values()) {
      if (!c.helloDone || !c.capabilities.has(capability) || c.ws.readyState !== c.ws.OPEN) continue;
      c.ws.send(text);
      sent++;
    }
    return sent;
  }

  /**
   * Closes every connection of `machineId` (with hello done or not) because its credential was
   * revoked; one that does not close within half a second is cut off. Answers whether there was any.
   */
  disconnect(machineId: string): boolean {
    let any = false;
    for (const c of this.#sockets) {
      if (c.machineId !== machineId) continue;
      any = true;
      c.rejected = true;
      c.ws.close(CLOSE_CREDENTIAL_REVOKED, 'device credential revoked');
      setTimeout(() => c.ws.terminate(), REVOKED_CLOSE_GRACE_MS).unref();
    }
    if (any) this.deps.logger.warn({ machineId }, 'closed the agent connection: device credential revoked');
    return any;
  }

  /** Drops agents that stopped talking (dead TCP, frozen process): three missed heartbeats. */
  dropSilent(): void {
    const limit = Date.now() - 3 * this.deps.heartbeatSeconds * 1000 - 5000;
    for (const c of this.#connections.values()) if (c.lastFrameAt < limit) c.ws.terminate();
  }

  #open(machineId: string, ws: WebSocket, address: string | null): void {
    const conn: Connection = { machineId, address, ws, lastFrameAt: Date.now(), helloReceived: false, helloDone: false, rejected: false, tokens: FRAME_BURST, refilledAt: Date.now(), queue: Promise.resolve(), capabilities: new Set() };
    this.#sockets.add(conn);
    // The hello must arrive in time; handling it may take longer on a busy node (a fleet moving
    // over from a node that died), and an agent that did say hello is not cut off for that.
    const helloTimeoutMs = this.deps.helloTimeoutMs ?? HELLO_TIMEOUT_MS;
    const helloTimer = setTimeout(() => {
      if (!conn.helloReceived) this.#reject(conn, 'no-hello', `no hello within ${helloTimeoutMs / 1000} s`);
    }, helloTimeoutMs);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (conn.rejected) return;
      const now = Date.now();
      conn.lastFrameAt = now;
      conn.tokens = Math.min(FRAME_BURST, conn.tokens + ((now - conn.refilledAt) / 1000) * FRAMES_PER_SECOND);
      conn.refilledAt = now;
      if (--conn.tokens < 0) return this.#reject(conn, 'flood', `more than ${FRAMES_PER_SECOND} frames a second`);
      const frame = this.#parse(conn, data, isBinary);
      if (!frame) return;
      // A frame queued behind one that got the connection closed (a refused hello) is not routed.
      conn.queue = conn.queue.then(() => (conn.rejected ? undefined : this.#routeWhenStored(conn, frame))).catch((err: unknown) => {
        this.deps.logger.error({ err, machineId, frame: frame.type }, 'handling an agent frame failed');
      });
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      this.#sockets.delete(conn);
      conn.queue = conn.queue.then(() => this.#closed(conn)).catch((err: unknown) => this.deps.logger.error({ err, machineId }, 'recording an agent disconnect failed'));
    });
    ws.on('error', (err) => this.deps.logger.warn({ err, machineId }, 'agent connection error'));
  }

  #parse(conn: Connection, data: RawData, isBinary: boolean): AgentFrame | null {
    if (isBinary) {
      this.#reject(conn, 'binary', 'binary frames are not part of the protocol');
      return null;
    }
    const decoded = decodeAgentFrame(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
    if (!decoded.ok) {
      this.#reject(conn, decoded.reason, decoded.message);
      return null;
    }
    // Checked on arrival, not on handling: frames sent right after hello wait for it in the queue.
    if (!conn.helloReceived && decoded.frame.type !== 'hello') {
      this.#reject(conn, 'order', 'the first frame must be hello');
      return null;
    }
    if (decoded.frame.type === 'hello') conn.helloReceived = true;
    this.deps.metrics.agentFrames.inc({ type: decoded.frame.type });
    return decoded.frame;
  }

  #reject(conn: Connection, reason: string, message: string): void {
    if (conn.rejected) return;
    conn.rejected = true;
    this.deps.metrics.agentFramesRejected.inc({ reason });
    this.deps.logger.warn({ machineId: conn.machineId, reason: message }, 'closing agent connection: bad frame');
    conn.ws.close(1008, message.slice(0, 120));
  }

  /**
   * Routes a frame; one the store could not take because it is unreachable is routed again once the
   * store answers, and the agent's later frames wait behind it (their order holds). Nothing is
   * acknowledged before it is stored, so a result sent during an outage is kept, not lost: here
   * while the connection lasts, else by the agent, which sends it again on its next connection.
   */
  async #routeWhenStored(conn: Connection, frame: AgentFrame): Promise<void> {
    for (let logged = false; ; ) {
      try {
        return await this.#route(conn, frame);
      } catch (err) {
        if (!isStoreUnreachable(err) || !this.#lasts(conn)) throw err;
        if (!logged) this.deps.logger.warn({ machineId: conn.machineId, frame: frame.type }, 'the store is unreachable: this agent frame is handled once it answers');
        logged = true;
      }
      do await new Promise((r) => setTimeout(r, STORE_RETRY_MS));
      while (this.#lasts(conn) && !(await (this.deps.storeAnswers?.() ?? true)));
      if (!this.#lasts(conn)) return;
    }
  }

  /** An open connection of a node not shutting down: frames waiting on it are still worth handling. */
  #lasts(conn: Connection): boolean {
    return !this.#closing && !conn.rejected && conn.ws.readyState === conn.ws.OPEN;
  }

  async #route(conn: Connection, frame: AgentFrame): Promise<void> {
    const actions = this.#actions;
    if (!actions) throw new Error('gateway used before attach()');
    const id = conn.machineId;
    switch (frame.type) {
      case 'hello':
        return this.#hello(conn, frame.protocol, frame.inventory);
      case 'heartbeat':
        this.deps.machines.noteSeen(id);
        return;
      case 'inventory':
        conn.capabilities = capabilitiesOf(frame.inventory);
        return this.deps.machines.applyInventory(id, frame.inventory);
      case 'ack':
        return actions.agentAck(id, frame.actionId);
      case 'progress':
        // Progress is kept in memory and shown while the action runs; only state changes are stored.
        this.deps.machines.noteSeen(id);
        return actions.agentProgress(id, frame.actionId, frame.percent, frame.message ?? null);
      case 'result':
        return actions.agentResult(id, frame.actionId, frame.status, frame.error, frame.result);
      case 'refused':
        return actions.agentRefused(id, frame.actionId, frame.reason, frame.detail);
      case 'event':
        // Acknowledged only once taken: an event the sink failed on comes back after a reconnect.
        await this.deps.deviceEvents.accept(id, frame);
        this.send(id, { type: 'eventAck', eventId: frame.eventId });
        return;
      case 'liveOutput':
        this.deps.machines.noteSeen(id);
        return this.#live?.agentOutput(id, frame);
      case 'liveDone':
        return this.#live?.agentDone(id, frame);
      case 'liveCompletion':
        return this.#live?.agentCompletion(id, frame);
      case 'streamOpen':
      case 'streamData':
      case 'streamCredit':
      case 'streamClose': {
        // No session feature uses streams yet: the agent's stream is closed, its connection kept.
        const answer = refuseStream(frame, 'this server has no live-response or file-transfer sessions');
        if (answer) this.send(id, answer);
        return;
      }
      default:
        return assertNever(frame);
    }
  }

  /**
   * One device's hellos are handled one after another: a connection that is replaced (or cut off)
   * while its hello is being stored finishes before the next one's starts, so its older inventory
   * never lands over the newer one (it did on a slow store: a CI run saw the old host name).
   */
  #hello(conn: Connection, protocol: number, inventory: Inventory): Promise<void> {
    return this.#hellos.run(conn.machineId, () => this.#helloInTurn(conn, protocol, inventory));
  }

  async #helloInTurn(conn: Connection, protocol: number, inventory: Inventory): Promise<void> {
    if (conn.helloDone) return this.#reject(conn, 'order', 'hello sent twice');
    if (protocol !== PROTOCOL_VERSION) return this.#reject(conn, 'protocol', `protocol ${protocol} is not supported; this server speaks ${PROTOCOL_VERSION}`);
    const previous = this.#connections.get(conn.machineId);
    if (previous && previous !== conn && (await this.#answers(previous))) {
      // Two live agents with one credential: it was copied. The newcomer is refused, the device flagged.
      conn.rejected = true;
      this.deps.metrics.agentFramesRejected.inc({ reason: 'credential-in-use' });
      this.deps.logger.warn({ machineId: conn.machineId, address: conn.address }, 'refused a second live connection with one device credential (copied credential?)');
      // Flagged before the newcomer hears the refusal, so whoever sees it refused finds the flag.
      await this.deps.machines.credentialInUseTwice(conn.machineId, conn.address).finally(() => conn.ws.close(CLOSE_CREDENTIAL_IN_USE, 'this device credential is in use by a connected agent'));
      return;
    }
    if (previous && previous !== conn) previous.ws.close(4000, 'replaced by a newer connection');
    this.#connections.set(conn.machineId, conn);
    this.deps.metrics.agentsConnected.set(this.#connections.size);
    // Recorded as held here before its AgentOnline: whoever reads the timeline finds it held.
    await this.#presence?.agentConnected(conn.machineId);
    await this.deps.machines.applyInventory(conn.machineId, inventory);
    conn.capabilities = capabilitiesOf(inventory);
    conn.helloDone = true;
    conn.ws.send(JSON.stringify({ type: 'welcome', machineId: conn.machineId, serverTime: new Date().toISOString(), heartbeatSeconds: this.deps.heartbeatSeconds } satisfies ServerFrame));
    await this.#announceContent(conn);
    // A new connection replacing a live one is a reconnect, not news; replacing a dead one is.
    if (!previous || previous.ws.readyState !== previous.ws.OPEN) await this.deps.timeline.add({ machineId: conn.machineId, eventType: 'AgentOnline', title: `Agent connected (version ${inventory.agentVersion})` });
    await this.#actions?.agentConnected(conn.machineId);
  }

  /**
   * Tells an agent that keeps content the newest version of each, so one that was offline through
   * changes fetches them now. Best effort: the agent also checks at start and every 10 minutes.
   */
  async #announceContent(conn: Connection): Promise<void> {
    if (!this.#content || !conn.capabilities.has(CONTENT_CAPABILITY)) return;
    try {
      for (const { kind, name } of AGENT_CONTENT) {
        const latest = await this.#content.latest(kind, name);
        if (latest) conn.ws.send(JSON.stringify({ type: 'content', kind, name, version: latest.manifest.version } satisfies ServerFrame));
      }
    } catch (err) {
      this.deps.logger.warn({ err, machineId: conn.machineId }, 'could not tell the agent of the newest content');
    }
  }

  /**
   * Whether a connection is still alive: it answers a ping within PING_PROBE_MS. A reconnecting
   * agent's old connection has usually died without closing (a dropped link), and does not.
   */
  #answers(c: Connection): Promise<boolean> {
    if (c.rejected || c.ws.readyState !== c.ws.OPEN) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (alive: boolean) => {
        clearTimeout(timer);
        c.ws.off('pong', pong);
        resolve(alive);
      };
      const pong = () => done(true);
      const timer = setTimeout(() => done(false), PING_PROBE_MS);
      c.ws.on('pong', pong);
      c.ws.ping();
    });
  }

  async #closed(conn: Connection): Promise<void> {
    if (this.#connections.get(conn.machineId) !== conn) return;
    // Recorded before the agent stops counting as connected, so whoever sees it offline finds the event.
    if (!this.#closing) await this.deps.timeline.add({ machineId: conn.machineId, eventType: 'AgentOffline', title: 'Agent disconnected' });
    if (this.#connections.get(conn.machineId) !== conn) return;
    this.#connections.delete(conn.machineId);
    this.deps.metrics.agentsConnected.set(this.#connections.size);
    if (!this.#closing) await this.#presence?.agentDisconnected(conn.machineId);
  }
}

const capabilitiesOf = (inventory: Inventory): Set<string> => new Set(inventory.capabilities.map((c) => c.name));
