import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { AGENT_WS_PATH, CONTENT_PATH, UPLOAD_PATH, type ServerFrame } from '@cordon/protocol';
import { isStoreUnreachable } from '../db/portable.js';
import { ApiError } from '../errors.js';
import type { AgentChannel } from '../services/action-lifecycle.js';
import type { LiveFramesSink } from './agent-socket.js';
import type { LiveFilesService } from '../services/live-files.service.js';
import type { AgentReportsService } from '../services/agent-reports.service.js';
import type { EnrollmentService } from '../services/enrollment.service.js';
import type { ContentService } from '../services/content.service.js';
import type { PackagesService } from '../services/packages.service.js';
import type { ServerKeys } from '../pki/keystore.js';
import { AgentSockets, type AgentPresence, type AgentSocketDeps } from './agent-socket.js';
import { ContentHttp } from './content-http.js';
import { EnrollmentHttp } from './enrollment-http.js';
import { UploadsHttp } from './uploads-http.js';

/** What the gateway needs from the rest of the server. */
export interface GatewayDeps extends AgentSocketDeps {
  keys: ServerKeys;
  enrollment: EnrollmentService;
  /** Enrollment attempts per source address per minute (a fleet roll-out behind one NAT fits 600). */
  enrollmentsPerMinute?: number;
}

/**
 * The agent gateway: a TLS listener (the server's own CA) for enrollment, package uploads, signed
 * content and one WebSocket per agent (agent-socket.ts). It checks the device credential once,
 * here, before a request reaches the uploads, the content or the sockets; enrollment is the only
 * way in without one.
 */
export class AgentGateway implements Omit<AgentChannel, 'relay'> {
  readonly #server: Server;
  readonly #enrollment: EnrollmentHttp;
  readonly #sockets: AgentSockets;
  #uploads?: UploadsHttp;
  #content?: ContentHttp;
  #sweeper?: NodeJS.Timeout;
  #closing = false;
  /**
   * Machines whose credential was revoked while this process runs: a request whose credential
   * check read the store just before the revocation committed is still refused.
   */
  readonly #revoked = new Set<string>();

  constructor(private readonly deps: GatewayDeps) {
    this.#enrollment = new EnrollmentHttp(deps.enrollment, deps.keys.caCertPem, deps.enrollmentsPerMinute, deps.metrics);
    this.#sockets = new AgentSockets(deps);
    this.#server = createServer({ cert: deps.keys.serverCertPem, key: deps.keys.serverKeyPem, minVersion: 'TLSv1.2' }, (req, res) => void this.#http(req, res));
    this.#server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => void this.#upgrade(req, socket, head));
    this.#server.on('tlsClientError', () => {
      this.deps.metrics.agentFramesRejected.inc({ reason: 'tls' });
    });
  }

  /**
   * Binds the engine agent frames go to and, when given, the package service uploads go to and
   * the content service content is fetched from.
   */
  attach(actions: AgentReportsService, packages?: PackagesService, content?: ContentService, live?: LiveFramesSink, liveFiles?: LiveFilesService): void {
    this.#sockets.attach(actions, content, live);
    this.#uploads = packages && new UploadsHttp(packages, liveFiles);
    this.#content = content && new ContentHttp(content);
  }

  /** Starts listening; answers the bound port (0 picks a free one). */
  async listen(host: string, port: number): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => resolve());
    });
    // Agents that stop talking (dead TCP, frozen process) are dropped after three missed heartbeats.
    this.#sweeper = setInterval(() => this.#sockets.dropSilent(), Math.min(this.deps.heartbeatSeconds * 1000, 10_000));
    this.#sweeper.unref();
    return (this.#server.address() as AddressInfo).port;
  }

  /** Refuses new sockets, closes the open ones once their received frames are handled, then stops listening. */
  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    await this.#sockets.close();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
  }

  /** Agents with an open connection. */
  get connectedCount(): number {
    return this.#sockets.connectedCount;
  }

  /** Tells `presence` of every agent connection this node takes or loses. */
  trackPresence(presence: AgentPresence): void {
    this.#sockets.trackPresence(presence);
  }

  connectedIds(): string[] {
    return this.#sockets.connectedIds();
  }

  isConnected(machineId: string): boolean {
    return this.#sockets.isConnected(machineId);
  }

  send(machineId: string, frame: ServerFrame): boolean {
    return this.#sockets.send(machineId, frame);
  }

  /** Sends `frame` to every agent connected to this node that has `capability`. */
  broadcast(frame: ServerFrame, capability: string): number {
    return this.#sockets.broadcast(frame, capability);
  }

  /** The machine's credential was revoked: its connections close now and nothing of it is accepted again. */
  disconnect(machineId: string): void {
    this.#revoked.add(machineId);
    this.#sockets.disconnect(machineId);
  }

  async #http(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    };
    try {
      // Agents ask before moving to this node (back home, or to confirm isolation): a node that
      // cannot reach its store says so, and they stay where they are.
      if (req.method === 'GET' && req.url === '/healthz') return (await (this.deps.storeAnswers?.() ?? true)) ? reply(200, { status: 'ok' }) : reply(503, { status: 'degraded' });
      if (req.method === 'GET' && req.url === '/ca.crt') return this.#enrollment.caCertificate(res);
      const uploads = req.url?.startsWith(`${UPLOAD_PATH}/`);
      if (uploads || req.url?.startsWith(`${CONTENT_PATH}/`)) {
        const part = uploads ? this.#uploads : this.#content;
        if (!part) return reply(404, { error: { code: 'ResourceNotFound', message: `${uploads ? 'Uploads are' : 'Content is'} not enabled on this server` } });
        // The one credential check for both parts: neither is reached without a device's credential.
        const machineId = await this.#deviceOf(req);
        if (!machineId) {
          req.resume();
          return reply(401, { error: { code: 'Unauthorized', message: 'Present the device credential' } });
        }
        return await part.handle(machineId, req, res, reply);
      }
      if (req.method !== 'POST' || req.url !== '/enroll') return reply(404, { error: { code: 'ResourceNotFound', message: 'Agents connect to /agent/v1 and enroll at POST /enroll' } });
      return await this.#enrollment.enroll(req, res, reply);
    } catch (e) {
      if (e instanceof ApiError) return reply(e.status, e.toBody());
      const enrolling = req.url === '/enroll';
      this.deps.logger.error({ err: e, url: req.url }, enrolling ? 'enrollment failed' : 'agent request failed');
      if (res.headersSent) return void res.destroy();
      return reply(500, { error: { code: 'InternalError', message: `${enrolling ? 'Enrollment' : 'The request'} failed; see the server log` } });
    }
  }

  async #upgrade(req: IncomingMessage, socket: Socket, head: Buffer): Promise<void> {
    const refuse = (status: 401 | 404 | 500 | 503, reason: string) => {
      this.deps.metrics.agentFramesRejected.inc({ reason });
      const text = { 401: 'Unauthorized', 404: 'Not Found', 500: 'Internal Server Error', 503: 'Service Unavailable' }[status];
      socket.end(`HTTP/1.1 ${status} ${text}\r\n${status === 503 ? 'Retry-After: 5\r\n' : ''}Connection: close\r\nContent-Length: 0\r\n\r\n`);
    };
    if (this.#closing) return refuse(404, 'closing');
    if (req.url !== AGENT_WS_PATH) return refuse(404, 'path');
    let machineId: string | null;
    try {
      machineId = await this.#deviceOf(req);
    } catch (err) {
      // No store to check the credential against: the agent tries again later, or another node.
      if (isStoreUnreachable(err)) return refuse(503, 'store');
      this.deps.logger.error({ err }, 'checking an agent credential failed');
      return refuse(500, 'error');
    }
    if (!machineId) return refuse(401, 'credential');
    this.#sockets.accept(machineId, req, socket, head);
  }

  /** The machine whose device credential (`Bearer <machineId>.<secret>`) the request carries, or null. */
  async #deviceOf(req: IncomingMessage): Promise<string | null> {
    const m = /^Bearer ([0-9a-f]{40})\.(\S{1,200})$/.exec(req.headers.authorization ?? '');
    return m && (await this.deps.enrollment.authenticateAgent(m[1]!, m[2]!)) && !this.#revoked.has(m[1]!) ? m[1]! : null;
  }
}
