import type { Logger } from 'pino';
import WebSocket from 'ws';
import { AGENT_WS_PATH, CLOSE_CREDENTIAL_IN_USE, CLOSE_CREDENTIAL_REVOKED, decodeServerFrame, MAX_SERVER_FRAME_BYTES, type AgentFrame, type ServerFrame } from '@cordon/protocol';
import type { EnrollmentState } from '../enrollment-state.js';
import { healthStatus } from './health.js';
import { ServerChoice } from './servers.js';

export { backoffMs } from './backoff.js';

export interface ConnectionEvents {
  /** Called once the socket is open; must send hello first. */
  onOpen(): void;
  onFrame(frame: ServerFrame): void;
  onClose(): void;
}

/** Default wait between attempts once the server refused the device credential. */
const CREDENTIAL_RETRY_SECONDS = 900;
/** Default window in which an agent away from home tries it again (seconds). */
export const RETURN_HOME_SECONDS = { min: 30, max: 120 };

export interface ConnectionOptions {
  reconnectMaxSeconds: number;
  pingSeconds: number;
  credentialRetrySeconds?: number;
  /** Connected away from home, the agent asks home again after a random wait in this window (seconds). */
  returnHomeSeconds?: { min: number; max: number };
}

/**
 * Keeps one TLS WebSocket to a server node: trusts only the CA pinned at enrollment, presents the
 * device credential, pings to notice a dead peer, and reconnects with backoff until stopped.
 * Each agent has a home node (ServerChoice); when a connection fails or drops it moves to the next
 * node. Connected away from home, it asks home again after a random wait and goes back only when
 * home answers, so a node that restarts gets its agents back over that window, not all at once.
 * A refused credential (401 at the upgrade, or the server closing with CLOSE_CREDENTIAL_REVOKED)
 * is not a network fault: the agent says once, as an error, that it must be enrolled again, and
 * only tries again after `credentialRetrySeconds` (the store may have been restored), never in a loop.
 */
export class ServerConnection {
  #ws?: WebSocket;
  #stopped = false;
  #retry?: NodeJS.Timeout;
  #ping?: NodeJS.Timeout;
  #alive = true;
  #credentialRevoked = false;
  #homeCheck?: NodeJS.Timeout;
  /** The connection this agent closed to go back home. */
  #leaving?: WebSocket;
  readonly #servers: ServerChoice;

  constructor(
    private readonly state: Pick<EnrollmentState, 'serverUrls' | 'machineId' | 'credential' | 'caCertPem'>,
    private readonly events: ConnectionEvents,
    private readonly logger: Logger,
    private readonly opts: ConnectionOptions,
  ) {
    this.#servers = new ServerChoice(state.machineId, state.serverUrls, {
      reconnectMaxSeconds: opts.reconnectMaxSeconds,
      returnHomeSeconds: opts.returnHomeSeconds ?? RETURN_HOME_SECONDS,
    });
  }

  /** The server this agent is connected to (or tries next). */
  get serverUrl(): string {
    return this.#servers.current;
  }

  /** Where this agent's HTTP requests (uploads, content) go: the current server first, then the others. */
  serverUrls(): string[] {
    return this.#servers.preferred();
  }

  /** The server refused this device's credential the last time it was asked: the agent must be enrolled again. */
  get credentialRevoked(): boolean {
    return this.#credentialRevoked;
  }

  start(): void {
    this.#stopped = false;
    this.#connect();
  }

  get connected(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  send(frame: AgentFrame): boolean {
    if (!this.#ws || this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  /** The server asked for another heartbeat interval (welcome frame). */
  setPingSeconds(seconds: number): void {
    this.opts.pingSeconds = seconds;
    this.#schedulePing();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    clearTimeout(this.#homeCheck);
    clearInterval(this.#ping);
    const ws = this.#ws;
    if (!ws || ws.readyState === WebSocket.CLOSED) return;
    await new Promise<void>((resolve) => {
      ws.once('close', () => resolve());
      ws.close(1000, 'agent stopping');
      setTimeout(() => {
        ws.terminate();
        resolve();
      }, 2000).unref();
    });
  }

  #connect(): void {
    const server = this.#servers.current;
    const url = new URL(AGENT_WS_PATH, server.replace(/^https:/, 'wss:'));
    const ws = new WebSocket(url, {
      ca: this.state.caCertPem,
      // The pinned private CA is the identity check; the name in the URL may be any alias or IP.
      // (Node's TLS treats any truthy answer as an error, whatever ws's typings say.)
      checkServerIdentity: (() => undefined) as unknown as () => boolean,
      headers: { authorization: `Bearer ${this.state.machineId}.${this.state.credential}` },
      perMessageDeflate: false,
      maxPayload: MAX_SERVER_FRAME_BYTES,
      handshakeTimeout: 15_000,
    });
    this.#ws = ws;
    let refused: number | undefined;
    ws.on('open', () => {
      this.#credentialRevoked = false;
      this.#alive = true;
      const homeInMs = this.#servers.connected();
      this.logger.info({ server, home: this.#servers.home }, 'connected to the server');
      this.#schedulePing();
      if (homeInMs !== null) this.#scheduleHomeCheck(ws, homeInMs);
      this.events.onOpen();
    });
    ws.on('pong', () => {
      this.#alive = true;
    });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const decoded = decodeServerFrame(Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data));
      if (!decoded.ok) {
        this.logger.warn({ reason: decoded.reason, issue: decoded.message }, 'dropped an invalid server frame');
        return;
      }
      this.events.onFrame(decoded.frame);
    });
    ws.on('unexpected-response', (_req, res) => {
      refused = res.statusCode ?? 0;
      res.resume();
      if (refused !== 401) this.logger.error({ status: refused }, 'the server refused the connection');
      // With this listener ws leaves the handshake open: end it, so that 'close' follows.
      ws.terminate();
    });
    ws.on('error', (err) => {
      if (refused === undefined) this.logger.warn({ err: err.message }, 'connection error');
    });
    ws.on('close', (code, reason) => {
      clearInterval(this.#ping);
      clearTimeout(this.#homeCheck);
      if (this.#ws === ws) this.#ws = undefined;
      this.events.onClose();
      if (this.#stopped) return;
      if (this.#leaving === ws) {
        this.#leaving = undefined;
        this.#servers.returnHome();
        this.#connect();
        return;
      }
      if (refused === 401 || code === CLOSE_CREDENTIAL_REVOKED) {
        this.#credentialRevoked = true;
        const seconds = this.opts.credentialRetrySeconds ?? CREDENTIAL_RETRY_SECONDS;
        this.logger.error(
          { state: 'credentialRevoked', status: refused, code: refused === undefined ? code : undefined, retryInSeconds: seconds },
          `credential revoked: the server no longer accepts this device's credential (revoked by an admin, or the device was removed). Re-enroll this agent: cordon agent enroll --server URL --token T. Trying again in ${seconds} s`,
        );
        this.#retry = setTimeout(() => this.#connect(), seconds * 1000);
        return;
      }
      const next = this.#servers.failed();
      if (code === CLOSE_CREDENTIAL_IN_USE) this.logger.error({ code, retryInMs: next.waitMs, next: next.url }, "refused: another agent is connected with this device's credential (was this machine cloned?); retrying");
      else this.logger.info({ server, code, reason: reason.toString(), retryInMs: next.waitMs, next: next.url }, 'disconnected; reconnecting');
      this.#retry = setTimeout(() => this.#connect(), next.waitMs);
    });
  }

  /** Away from home: after `ms`, asks home whether it answers; if it does, leaves this server for it, else asks again later. */
  #scheduleHomeCheck(ws: WebSocket, ms: number): void {
    clearTimeout(this.#homeCheck);
    this.#homeCheck = setTimeout(() => {
      const home = this.#servers.home;
      // Asked first (its /healthz), so that no agent drops a working connection for a node that is
      // still down, or up but unable to reach its store (503).
      void healthStatus(home, this.state.caCertPem, 5000).then((status) => {
        const answers = status === 200;
        if (this.#stopped || this.#ws !== ws || ws.readyState !== WebSocket.OPEN) return;
        if (!answers) return this.#scheduleHomeCheck(ws, this.#servers.homeRetryMs());
        this.logger.info({ server: this.#servers.current, home }, 'the home server answers again; moving back to it');
        this.#leaving = ws;
        ws.close(1000, 'moving back to its home server');
      });
    }, ms);
  }

  #schedulePing(): void {
    clearInterval(this.#ping);
    this.#ping = setInterval(() => {
      const ws = this.#ws;
      if (!ws || ws.readyState !== WebSocket.OPEN) return;
      // No pong since the last ping: the server or the path is gone; drop and reconnect.
      if (!this.#alive) return ws.terminate();
      this.#alive = false;
      ws.ping();
    }, this.opts.pingSeconds * 1000);
  }
}

