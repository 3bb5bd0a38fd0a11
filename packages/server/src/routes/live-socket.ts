import type { FastifyInstance, FastifyRequest } from 'fastify';
import { MAX_LIVE_INPUT_CHARS, MAX_LIVE_LINE_BYTES } from '@cordon/protocol';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { roleHas, type Principal } from '../auth/permissions.js';
import { isStoreUnreachable } from '../db/portable.js';
import { ApiError, BadRequestError, ForbiddenError, StoreUnavailableApiError } from '../errors.js';
import { invalidBody, normalizeBodyKeys, refuseNul } from '../http/body.js';
import type { AuditService } from '../services/audit.service.js';
import type { LiveResponseService, LiveStreamEvent } from '../services/live-response.service.js';
import { recheckAccess } from './common.js';

const TerminalSize = z.number().int().min(1).max(1000);
export const LineBody = z.strictObject({
  line: z.string().min(1, 'is required: the command line to run').max(MAX_LIVE_LINE_BYTES, `must be at most ${MAX_LIVE_LINE_BYTES} characters`),
  cols: TerminalSize.optional().meta({ description: "For `shell`: the client's terminal width (80 without it)" }),
  rows: TerminalSize.optional().meta({ description: "For `shell`: the client's terminal height (24 without it)" }),
});
export const InputBody = z.strictObject({
  data: z.string().min(1).max(MAX_LIVE_INPUT_CHARS, `must be at most ${MAX_LIVE_INPUT_CHARS} characters: send longer input in several chunks`).optional().meta({ description: 'Keystrokes, as the terminal sends them (\\r for Enter, \\u0003 for Ctrl-C, \\u0004 for Ctrl-D)' }),
  cols: TerminalSize.optional().meta({ description: 'The terminal resized: its new width (with Rows)' }),
  rows: TerminalSize.optional(),
});

/** The client's tag for a message, echoed in its answer. */
const Ref = z.union([z.string().max(64), z.number().int()]).optional();
const Seq = z.number().int().min(1).max(1_000_000);

/** What a client sends on a session's socket: the same requests as POST …/commands, …/input and …/cancel. */
export const LiveSocketMessage = z.discriminatedUnion('type', [
  LineBody.extend({ type: z.literal('line'), ref: Ref }),
  InputBody.extend({ type: z.literal('input'), ref: Ref, seq: Seq }),
  z.strictObject({ type: z.literal('cancel'), ref: Ref, seq: Seq }),
]);
type Message = z.infer<typeof LiveSocketMessage>;

/** How each message reads in the audit log when it is refused (as the HTTP routes' refusals do). */
const AUDIT_ACTION: Record<Message['type'], string> = { line: 'LiveResponseCommand', input: 'LiveResponseShellInput', cancel: 'CancelLiveResponseCommand' };

/** A socket whose client does not take what it is sent is closed (it reconnects and catches up). */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
const PING_MS = 15_000;
/** Close codes: 4401 the credential no longer holds, 4403 it no longer grants following, 4404 no such session, 4408 the client fell behind. */
const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;
const CLOSE_NOT_FOUND = 4404;
const CLOSE_BEHIND = 4408;
/** Messages waiting to be handled, at most: past it the socket is not read until they drain (the sender is held back, not buffered). */
const MAX_WAITING_MESSAGES = 32;

/**
 * A live-response session over one WebSocket: the client sends lines, keystrokes and Ctrl-C as
 * JSON messages and gets each answer (`accepted` or `error`, with its `ref`) and every event of
 * the session (`state`, `command`, `output`, `done`, as on the event stream) on the same socket.
 * Each message is checked as its HTTP twin is: the credential again (a revoked token or lowered
 * role counts at once), the same permission (`live.basic`), the per-minute budget, the body, and
 * the service's own checks and audit.
 */
export function serveLiveSocket(fastify: FastifyInstance, live: LiveResponseService, audit: AuditService, socket: WebSocket, req: FastifyRequest, sessionId: string): void {
  const send = (message: object) => {
    if (socket.readyState !== socket.OPEN) return;
    if (socket.bufferedAmount > MAX_BACKLOG_BYTES) return void socket.close(CLOSE_BEHIND, 'The client fell behind; reconnect');
    socket.send(JSON.stringify(message));
  };
  const refused = (principal: Principal, action: string, error: ApiError) =>
    audit.record({ actor: principal.name, action, targetType: 'action', targetId: sessionId, outcome: 'Refused', detail: { status: error.status, reason: error.message.slice(0, 1000) } }).catch((err: unknown) => req.log.error({ err }, 'auditing a refused socket message failed'));

  // Listening at once (a message sent right after the upgrade must not be missed), but answering
  // only once the session is known to exist: one message at a time, in the order sent, so lines
  // run in the order they were typed.
  let stop = (): void => {};
  let queue = live.get(sessionId).then(
    () => {
      stop = live.follow(
        sessionId,
        (e: LiveStreamEvent) => send({ type: e.event, data: e.data }),
        (err) => {
          req.log.error({ err }, 'following a live-response session failed');
          socket.close(1011, 'Following the session failed');
        },
      );
    },
    () => socket.close(CLOSE_NOT_FOUND, 'No such live-response session'),
  );
  let waiting = 0;
  socket.on('message', (raw, isBinary) => {
    if (++waiting >= MAX_WAITING_MESSAGES) socket.pause();
    queue = queue
      .then(() => (socket.readyState === socket.OPEN ? handle(isBinary ? null : String(raw)) : undefined))
      .catch((err: unknown) => req.log.error({ err }, 'a live-response socket message failed'))
      .finally(() => {
        if (--waiting < MAX_WAITING_MESSAGES && socket.isPaused) socket.resume();
      });
  });

  const handle = async (text: string | null): Promise<void> => {
    let ref: unknown;
    let type: Message['type'] | undefined;
    let principal: Principal | null;
    try {
      principal = await fastify.principalNow(req);
    } catch (err) {
      req.log.error({ err }, 'checking a live-response socket caller failed');
      return send({ type: 'error', status: 503, error: { code: 'StoreUnavailable', message: 'The server cannot check your credential now; send it again' } });
    }
    if (!principal) return void socket.close(CLOSE_UNAUTHORIZED, 'The credential no longer holds');
    if (!roleHas(principal.role, 'live.read')) {
      await refused(principal, 'LiveResponseSocketMessage', new ForbiddenError('live.read', principal.role));
      return void socket.close(CLOSE_FORBIDDEN, 'The role no longer allows following');
    }
    try {
      await fastify.spendRequest(req);
      if (text === null) throw new BadRequestError('Send each message as JSON text', 'message');
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        throw new BadRequestError('The message is not valid JSON', 'message');
      }
      const { body: normalized, spelling } = normalizeBodyKeys(body);
      ref = (normalized as { ref?: unknown } | null)?.ref;
      refuseNul(normalized, spelling);
      const parsed = LiveSocketMessage.safeParse(normalized);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const path = issue.path.map((p) => `/${String(p)}`).join('');
        throw invalidBody({ path, message: issue.message, unknownKey: issue.code === 'unrecognized_keys' ? issue.keys[0] : undefined }, spelling, 'message');
      }
      const m = parsed.data;
      type = m.type;
      // What its HTTP twin needs (POST …/commands, …/input, …/cancel).
      if (!roleHas(principal.role, 'live.basic')) throw new ForbiddenError('live.basic', principal.role);
      if (m.type === 'line') send({ type: 'accepted', ref, command: await live.run(principal, sessionId, m.line, m.cols && m.rows ? { cols: m.cols, rows: m.rows } : undefined) });
      else if (m.type === 'input') send({ type: 'accepted', ref, input: await live.input(principal, sessionId, m.seq, { data: m.data, cols: m.cols, rows: m.rows }) });
      else send({ type: 'accepted', ref, command: await live.cancel(principal, sessionId, m.seq) });
    } catch (e) {
      const error = e instanceof ApiError ? e : isStoreUnreachable(e) ? new StoreUnavailableApiError() : new ApiError(500, 'InternalError', 'The server failed to handle this message; the error is in its log');
      if (!(e instanceof ApiError)) req.log.error({ err: e }, 'a live-response socket message failed');
      else if (error.status >= 400 && error.status < 500 && error.status !== 429 && !(e as { audited?: boolean }).audited) await refused(principal, type ? AUDIT_ACTION[type] : 'LiveResponseSocketMessage', error);
      send({ type: 'error', ref, status: error.status, ...error.toBody() });
    }
  };

  // A client that stops answering pings (a half-open connection) is dropped: its follower stops.
  let alive = true;
  socket.on('pong', () => (alive = true));
  const ping = setInterval(() => {
    if (!alive) return void socket.terminate();
    alive = false;
    socket.ping();
  }, PING_MS);
  const recheck = recheckAccess(fastify, req, () => socket.close(CLOSE_UNAUTHORIZED, 'The credential no longer holds'));
  ping.unref();
  socket.on('close', () => {
    clearInterval(ping);
    recheck.stop();
    void queue.then(() => stop());
  });
}
