import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { Logger } from 'pino';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';
import { z } from 'zod';
import { AGENT_WS_PATH, UPLOAD_PATH, AgentFrame, assertNever, Inventory, MAX_AGENT_FRAME_BYTES, PROTOCOL_VERSION, refuseStream, type ServerFrame } from '@cordon/protocol';
import { ApiError } from '../errors.js';
import type { Metrics } from '../metrics.js';
import type { AgentChannel } from '../services/action-lifecycle.js';
import type { AgentReportsService } from '../services/agent-reports.service.js';
import type { DeviceEventsSink } from '../services/device-events.service.js';
import type { EnrollmentService } from '../services/enrollment.service.js';
import { MAX_CHUNK_BYTES, type PackagesService } from '../services/packages.service.js';
import type { MachinesService } from '../services/machines.service.js';
import type { TimelineService } from '../services/timeline.service.js';
import type { ServerKeys } from '../pki/keystore.js';

/** Chunk uploads being received at once, per device and in all: each holds up to 8 MiB. */
const UPLOADS_PER_DEVICE = 2;
const UPLOADS_TOTAL = 16;

const CompleteUpload = z.strictObject({ size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-fA-F]{64}$/) });

/**
 * Chunk buffers are reused: a fresh multi-megabyte allocation per chunk leaves the C heap
 * fragmented, and the server's memory would grow with every upload instead of staying flat.
 */
const chunkBuffers: Buffer[] = [];
/** Memory that came from this pool; nothing else (Node's shared small-buffer pool above all) may enter it. */
const pooledMemory = new WeakSet<ArrayBufferLike>();
function takeBuffer(size: number): Buffer {
  // Small bodies get exactly their size; only chunk-sized ones share the pool.
  if (size < 1024 * 1024) return Buffer.allocUnsafe(size);
  const i = chunkBuffers.findIndex((b) => b.length >= size);
  let b = i >= 0 ? chunkBuffers.splice(i, 1)[0] : undefined;
  if (!b) {
    b = Buffer.allocUnsafeSlow(Math.max(size, 4 * 1024 * 1024));
    pooledMemory.add(b.buffer);
  }
  return b.subarray(0, size);
}
function giveBuffer(b: Buffer): void {
  // At most UPLOADS_TOTAL buffers are kept: enough for every upload the gateway admits at once.
  if (pooledMemory.has(b.buffer) && chunkBuffers.length < UPLOADS_TOTAL) chunkBuffers.push(Buffer.from(b.buffer, 0, b.buffer.byteLength));
}

/** Reads a request body up to `limit` bytes; null when it is larger (the caller answers and closes). */
async function readBody(req: IncomingMessage, limit: number, pooled = false): Promise<Buffer | null> {
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return null;
  // With a declared length, one buffer of that size: ten concurrent 4 MiB chunks must not cost
  // twice that in pieces plus their concatenation.
  const known = Number.isSafeInteger(declared) && declared >= 0;
  const body = known ? (pooled ? takeBuffer(declared) : Buffer.allocUnsafe(declared)) : null;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    if (size + chunk.length > (known ? declared : limit)) return null;
    if (body) chunk.copy(body, size);
    else chunks.push(chunk);
    size += chunk.length;
  }
  if (body) return size === declared ? body : null;
  return Buffer.concat(chunks);
}

function safeJson(b: Buffer): unknown {
  try {
    return JSON.parse(b.toString('utf8'));
  } catch {
    return null;
  }
}

const EnrollRequest = z.strictObject({ secret: z.string().min(1).max(128), inventory: Inventory });
const MAX_ENROLL_BODY = 256 * 1024;
const HELLO_TIMEOUT_MS = 10_000;
/** Per connection: bursts up to 200 frames, then 50 frames a second (heartbeats are one per 30 s). */
const FRAME_BURST = 200;
const FRAMES_PER_SECOND = 50;


interface Connection {
  machineId: string;
  ws: WebSocket;
  lastFrameAt: number;
  helloDone: boolean;
  /** Set when a bad frame closed the connection: nothing after it is routed. */
  rejected: boolean;
  /** Frame budget (token bucket): an agent flooding the server is cut off, not obeyed. */
  tokens: number;
  refilledAt: number;
  /** Frames of one agent are handled strictly in order (an ack before its result). */
  queue: Promise<void>;
}

export interface GatewayDeps {
  keys: ServerKeys;
  enrollment: EnrollmentService;
  machines: MachinesService;
  timeline: TimelineService;
  deviceEvents: DeviceEventsSink;
  metrics: Metrics;
  logger: Logger;
  heartbeatSeconds: number;
  /** Enrollment attempts per source address per minute (a fleet roll-out behind one NAT fits 600). */
  enrollmentsPerMinute?: number;
}

/**
 * The agent gateway: a TLS listener (the server's own CA) for enrollment and one WebSocket per
 * agent. A socket exists only after the device credential checked out; each frame is validated
 * against the protocol before it is routed, and a bad frame closes the connection.
 */
export class AgentGateway implements AgentChannel {
  readonly #connections = new Map<string, Connection>();
  readonly #enrollments = new Map<string, { count: number; windowStart: number }>();
  readonly #wss = new WebSocketServer({ noServer: true, maxPayload: MAX_AGENT_FRAME_BYTES, perMessageDeflate: false });
  readonly #server: Server;
  #actions?: AgentReportsService;
  #packages?: PackagesService;
  readonly #uploadsInFlight = new Map<string, number>();
  #uploadsTotal = 0;
  #sweeper?: NodeJS.Timeout;
  #closing = false;

  constructor(private readonly deps: GatewayDeps) {
    this.#server = createServer({ cert: deps.keys.serverCertPem, key: deps.keys.serverKeyPem, minVersion: 'TLSv1.2' }, (req, res) => void this.#http(req, res));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.#upgrade(req, socket, head));
    this.#server.on('tlsClientError', () => {
      this.deps.metrics.agentFramesRejected.inc({ reason: 'tls' });
    });
  }

  attach(actions: AgentReportsService, packages?: PackagesService): void {
    this.#actions = actions;
    this.#packages = packages;
  }

  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    // Agents that stop talking (dead TCP, frozen process) are dropped after three missed heartbeats.
    this.#sweeper = setInterval(() => this.#dropSilent(), Math.min(this.deps.heartbeatSeconds * 1000, 10_000));
    this.#sweeper.unref();
    return (this.#server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    for (const c of this.#connections.values()) c.ws.close(1001, 'server shutting down');
    await Promise.all([...this.#connections.values()].map((c) => c.queue));
    this.#connections.clear();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
  }

  get connectedCount(): number {
    return this.#connections.size;
  }

  isConnected(machineId: string): boolean {
    return this.#connections.get(machineId)?.helloDone === true;
  }

  send(machineId: string, frame: ServerFrame): boolean {
    const c = this.#connections.get(machineId);
    if (!c || !c.helloDone || c.ws.readyState !== c.ws.OPEN) return false;
    c.ws.send(JSON.stringify(frame));
    return true;
  }

  async #http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    try {
      if (req.method === 'GET' && req.url === '/healthz') return reply(200, { status: 'ok' });
      // Public by design: a new agent checks this certificate against the pin in its enrollment token.
      if (req.method === 'GET' && req.url === '/ca.crt') {
        res.writeHead(200, { 'content-type': 'application/x-pem-file' }).end(this.deps.keys.caCertPem);
        return;
      }
      if (req.url?.startsWith(`${UPLOAD_PATH}/`)) return await this.#upload(req, res, reply);
      if (req.method !== 'POST' || req.url !== '/enroll') return reply(404, { error: { code: 'ResourceNotFound', message: 'Agents connect to /agent/v1 and enroll at POST /enroll' } });
      const retryAfter = this.#enrollmentBudget(req.socket.remoteAddress ?? 'unknown');
      if (retryAfter > 0) {
        res.setHeader('retry-after', String(retryAfter));
        return reply(429, { error: { code: 'TooManyRequests', message: `Too many enrollment attempts from this address; retry after ${retryAfter} seconds` } });
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req as AsyncIterable<Buffer>) {
        size += chunk.length;
        if (size > MAX_ENROLL_BODY) return reply(400, { error: { code: 'InvalidRequestBody', message: 'Enrollment request too large', target: 'body' } });
        chunks.push(chunk);
      }
      let json: unknown;
      try {
        json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return reply(400, { error: { code: 'InvalidRequestBody', message: 'The enrollment request is not valid JSON', target: 'body' } });
      }
      const parsed = EnrollRequest.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        return reply(400, { error: { code: 'InvalidRequestBody', message: `${issue.path.join('.')}: ${issue.message}`, target: issue.path.join('.') } });
      }
      const result = await this.deps.enrollment.enroll(parsed.data.secret, parsed.data.inventory);
      return reply(201, result);
    } catch (e) {
      if (e instanceof ApiError) return reply(e.status, e.toBody());
      this.deps.logger.error({ err: e }, 'enrollment failed');
      return reply(500, { error: { code: 'InternalError', message: 'Enrollment failed; see the server log' } });
    }
  }

  /**
   * Package uploads, authenticated with the device credential like the WebSocket:
   * GET <id> (where to resume), PUT <id>?offset=N with one chunk and its SHA-256 in
   * x-chunk-sha256, POST <id>/complete {size, sha256}.
   */
  async #upload(req: IncomingMessage, res: ServerResponse, reply: (status: number, body: unknown) => void): Promise<void> {
    const packages = this.#packages;
    if (!packages) return reply(404, { error: { code: 'ResourceNotFound', message: 'Uploads are not enabled on this server' } });
    const machineId = await this.#agentOf(req);
    if (!machineId) {
      req.resume();
      return reply(401, { error: { code: 'Unauthorized', message: 'Present the device credential' } });
    }
    const url = new URL(req.url!, 'https://agent.invalid');
    const m = /^\/agent\/v1\/uploads\/([0-9a-f-]{36})(\/complete)?$/.exec(url.pathname);
    if (!m) return reply(404, { error: { code: 'ResourceNotFound', message: 'No such upload path' } });
    const actionId = m[1]!;
    if (req.method === 'GET' && !m[2]) return reply(200, await packages.uploadOffset(machineId, actionId));
    if (req.method === 'PUT' && !m[2]) {
      const offset = Number(url.searchParams.get('offset'));
      const sha = String(req.headers['x-chunk-sha256'] ?? '');
      if (!Number.isSafeInteger(offset) || offset < 0) return reply(400, { error: { code: 'InvalidInput', message: 'offset must be a whole number of bytes', target: 'offset' } });
      if (!/^[0-9a-fA-F]{64}$/.test(sha)) return reply(400, { error: { code: 'InvalidInput', message: 'x-chunk-sha256 must be the hex SHA-256 of the chunk', target: 'x-chunk-sha256' } });
      const closeAfter = () => {
        // Answer, then drop the connection rather than read (or wait for) the rest of the body.
        res.setHeader('connection', 'close');
        res.once('finish', () => req.destroy());
      };
      // Memory is only spent on a body the device may send, and on a bounded number at once.
      await packages.assertUploadable(machineId, actionId).catch((e: unknown) => {
        closeAfter();
        throw e;
      });
      const mine = this.#uploadsInFlight.get(machineId) ?? 0;
      if (mine >= UPLOADS_PER_DEVICE || this.#uploadsTotal >= UPLOADS_TOTAL) {
        closeAfter();
        res.setHeader('retry-after', '5');
        return reply(503, { error: { code: 'ServerBusy', message: 'Too many uploads in progress; retry shortly' } });
      }
      this.#uploadsInFlight.set(machineId, mine + 1);
      this.#uploadsTotal++;
      // A device that stops sending mid-chunk does not hold its buffer for long.
      req.setTimeout(60_000, () => req.destroy());
      let chunk: Buffer | null = null;
      try {
        chunk = await readBody(req, MAX_CHUNK_BYTES, true);
        if (!chunk) {
          closeAfter();
          return reply(413, { error: { code: 'InvalidRequestBody', message: `A chunk may be at most ${MAX_CHUNK_BYTES} bytes`, target: 'body' } });
        }
        return reply(200, await packages.uploadChunk(machineId, actionId, offset, chunk, sha));
      } finally {
        this.#uploadsTotal--;
        const left = (this.#uploadsInFlight.get(machineId) ?? 1) - 1;
        if (left > 0) this.#uploadsInFlight.set(machineId, left);
        else this.#uploadsInFlight.delete(machineId);
        // Written and hashed by now: the buffer can carry the next chunk.
        if (chunk) giveBuffer(chunk);
      }
    }
    if (req.method === 'POST' && m[2]) {
      const body = await readBody(req, 4096);
      const parsed = CompleteUpload.safeParse(body ? safeJson(body) : null);
      if (!parsed.success) return reply(400, { error: { code: 'InvalidRequestBody', message: 'Send {"size": <bytes>, "sha256": "<hex>"}', target: 'body' } });
      return reply(200, await packages.completeUpload(machineId, actionId, parsed.data.size, parsed.data.sha256));
    }
    req.resume();
    return reply(405, { error: { code: 'MethodNotAllowed', message: `${req.method} is not allowed here` } });
  }

  /** Answers 0 when an enrollment from `address` may proceed, else the seconds to wait. */
  #enrollmentBudget(address: string): number {
    const now = Date.now();
    if (this.#enrollments.size > 10_000) for (const [k, v] of this.#enrollments) if (now - v.windowStart >= 60_000) this.#enrollments.delete(k);
    const w = this.#enrollments.get(address);
    if (!w || now - w.windowStart >= 60_000) {
      this.#enrollments.set(address, { count: 1, windowStart: now });
      return 0;
    }
    if (++w.count <= (this.deps.enrollmentsPerMinute ?? 600)) return 0;
    return Math.ceil((w.windowStart + 60_000 - now) / 1000);
  }

  /** The machine whose device credential (`Bearer <machineId>.<secret>`) the request carries, or null. */
  async #agentOf(req: IncomingMessage): Promise<string | null> {
    const m = /^Bearer ([0-9a-f]{40})\.(\S{1,200})$/.exec(req.headers.authorization ?? '');
    return m && (await this.deps.enrollment.authenticateAgent(m[1]!, m[2]!)) ? m[1]! : null;
  }

  async #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const refuse = (status: number, reason: string) => {
      this.deps.metrics.agentFramesRejected.inc({ reason });
      socket.end(`HTTP/1.1 ${status} ${status === 401 ? 'Unauthorized' : 'Not Found'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (this.#closing) return refuse(404, 'closing');
    if (req.url !== AGENT_WS_PATH) return refuse(404, 'path');
    const machineId = await this.#agentOf(req);
    if (!machineId) return refuse(401, 'credential');
    this.#wss.handleUpgrade(req, socket, head, (ws) => this.#open(machineId, ws));
  }

  #open(machineId: string, ws: WebSocket): void {
    const conn: Connection = { machineId, ws, lastFrameAt: Date.now(), helloDone: false, rejected: false, tokens: FRAME_BURST, refilledAt: Date.now(), queue: Promise.resolve() };
    const helloTimer = setTimeout(() => {
      if (!conn.helloDone) this.#reject(conn, 'no-hello', 'no hello within 10 s');
    }, HELLO_TIMEOUT_MS);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (conn.rejected) return;
      const now = Date.now();
      conn.lastFrameAt = now;
      conn.tokens = Math.min(FRAME_BURST, conn.tokens + ((now - conn.refilledAt) / 1000) * FRAMES_PER_SECOND);
      conn.refilledAt = now;
      if (--conn.tokens < 0) return this.#reject(conn, 'flood', `more than ${FRAMES_PER_SECOND} frames a second`);
      const frame = this.#parse(conn, data, isBinary);
      if (!frame) return;
      conn.queue = conn.queue.then(() => this.#route(conn, frame)).catch((err: unknown) => {
        this.deps.logger.error({ err, machineId, frame: frame.type }, 'handling an agent frame failed');
      });
    });
    ws.on('close', () => {
      clearTimeout(helloTimer);
      conn.queue = conn.queue.then(() => this.#closed(conn)).catch((err: unknown) => this.deps.logger.error({ err, machineId }, 'recording an agent disconnect failed'));
    });
    ws.on('error', (err) => this.deps.logger.warn({ err, machineId }, 'agent connection error'));
  }

  #parse(conn: Connection, data: RawData, isBinary: boolean): AgentFrame | null {
    if (isBinary) {
      this.#reject(conn, 'binary', 'binary frames are not part of the protocol');
      return null;
    }
    let json: unknown;
    try {
      json = JSON.parse(data.toString());
    } catch {
      this.#reject(conn, 'json', 'frame is not JSON');
      return null;
    }
    const parsed = AgentFrame.safeParse(json);
    if (!parsed.success) {
      this.#reject(conn, 'schema', `invalid frame: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
      return null;
    }
    if (!conn.helloDone && parsed.data.type !== 'hello') {
      this.#reject(conn, 'order', 'the first frame must be hello');
      return null;
    }
    this.deps.metrics.agentFrames.inc({ type: parsed.data.type });
    return parsed.data;
  }

  #reject(conn: Connection, reason: string, message: string): void {
    if (conn.rejected) return;
    conn.rejected = true;
    this.deps.metrics.agentFramesRejected.inc({ reason });
    this.deps.logger.warn({ machineId: conn.machineId, reason: message }, 'closing agent connection: bad frame');
    conn.ws.close(1008, message.slice(0, 120));
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
        return this.deps.machines.applyInventory(id, frame.inventory);
      case 'ack':
        return actions.agentAck(id, frame.actionId);
      case 'progress':
        // Progress is kept in memory and shown while the action runs; only state changes are stored.
        this.deps.machines.noteSeen(id);
        actions.agentProgress(id, frame.actionId, frame.percent, frame.message ?? null);
        return;
      case 'result':
        return actions.agentResult(id, frame.actionId, frame.status, frame.error, frame.result);
      case 'refused':
        return actions.agentRefused(id, frame.actionId, frame.reason, frame.detail);
      case 'event':
        // Acknowledged only once taken: an event the sink failed on comes back after a reconnect.
        await this.deps.deviceEvents.accept(id, frame);
        this.send(id, { type: 'eventAck', eventId: frame.eventId });
        return;
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

  async #hello(conn: Connection, protocol: number, inventory: Inventory): Promise<void> {
    if (conn.helloDone) return this.#reject(conn, 'order', 'hello sent twice');
    if (protocol !== PROTOCOL_VERSION) return this.#reject(conn, 'protocol', `protocol ${protocol} is not supported; this server speaks ${PROTOCOL_VERSION}`);
    const previous = this.#connections.get(conn.machineId);
    if (previous && previous !== conn) previous.ws.close(4000, 'replaced by a newer connection');
    this.#connections.set(conn.machineId, conn);
    this.deps.metrics.agentsConnected.set(this.#connections.size);
    await this.deps.machines.applyInventory(conn.machineId, inventory);
    conn.helloDone = true;
    conn.ws.send(JSON.stringify({ type: 'welcome', machineId: conn.machineId, serverTime: new Date().toISOString(), heartbeatSeconds: this.deps.heartbeatSeconds } satisfies ServerFrame));
    // A new connection replacing a live one is a reconnect, not news; replacing a dead one is.
    if (!previous || previous.ws.readyState !== previous.ws.OPEN) await this.deps.timeline.add({ machineId: conn.machineId, eventType: 'AgentOnline', title: `Agent connected (version ${inventory.agentVersion})` });
    await this.#actions?.agentConnected(conn.machineId);
  }

  async #closed(conn: Connection): Promise<void> {
    if (this.#connections.get(conn.machineId) !== conn) return;
    // Recorded before the agent stops counting as connected, so whoever sees it offline finds the event.
    if (!this.#closing) await this.deps.timeline.add({ machineId: conn.machineId, eventType: 'AgentOffline', title: 'Agent disconnected' });
    if (this.#connections.get(conn.machineId) === conn) this.#connections.delete(conn.machineId);
    this.deps.metrics.agentsConnected.set(this.#connections.size);
  }

  #dropSilent(): void {
    const limit = Date.now() - 3 * this.deps.heartbeatSeconds * 1000 - 5000;
    for (const c of this.#connections.values()) if (c.lastFrameAt < limit) c.ws.terminate();
  }
}
