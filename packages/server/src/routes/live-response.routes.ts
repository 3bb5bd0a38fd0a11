import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { MAX_LIVE_COMPLETE_PATH } from '@cordon/protocol';
import { z } from 'zod';
import { principalOf } from '../http/app.js';
import { answers, LiveCommand, LiveCompletion, LiveFileList, LiveInputAccepted, LiveSession, LiveSessionList, LiveTranscript } from '../api/schemas.js';
import type { LiveFilesService } from '../services/live-files.service.js';
import type { AuditService } from '../services/audit.service.js';
import type { LiveResponseService } from '../services/live-response.service.js';
import { Comment, IdParam, MachineIdParam, odata, recheckAccess } from './common.js';
import { InputBody, LineBody, serveLiveSocket } from './live-socket.js';

const OpenBody = z.strictObject({ comment: Comment });
const CompleteBody = z.strictObject({ path: z.string().max(MAX_LIVE_COMPLETE_PATH, `must be at most ${MAX_LIVE_COMPLETE_PATH} characters`).meta({ description: 'The word being typed, unquoted (empty: the working directory)' }) });
const EndBody = z.strictObject({ comment: Comment.optional() });
const FileParam = z.object({ id: z.string().min(1).max(128), fileId: z.string().regex(/^[0-9a-f-]{36}$/) });
const FileStream = z.custom<Readable>().meta({ type: 'string', format: 'binary', description: 'The file as the device sent it; its SHA-256 is in x-content-sha256' });
const SeqParam = z.object({ id: z.string().min(1).max(128), seq: z.coerce.number().int().min(1).max(1_000_000) });
const ListQuery = z.object({ machineId: z.string().regex(/^[0-9a-f]{40}$/).optional(), $top: z.coerce.number().int().min(1).max(1000).default(100) });
const TranscriptQuery = z.object({ format: z.enum(['json', 'cast']).default('json') });
const EventStream = z.string().meta({ description: 'Server-sent events: state, command, output and done (see LiveSession docs in the README)' });

/** A follower that has not taken this much of its stream is too slow: it is cut off and reconnects. */
const MAX_BACKLOG_BYTES = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * Live-response sessions: open one on a device, type lines in it, follow what the device answers
 * (server-sent events, from any node), end it, and read or replay its transcript.
 */
export function liveResponseRoutes(live: LiveResponseService, files: LiveFilesService, audit: AuditService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['live response'];
    const open = new Set<import('node:http').ServerResponse>();
    app.addHook('preClose', async () => {
      for (const res of open) res.end();
    });

    app.post(
      '/machines/:id/liveResponseSessions',
      { config: { access: 'live.basic', audit: { action: 'LiveResponse', targetType: 'machine' } }, schema: { tags, summary: 'Cordon: open a live-response session on a device (it waits, Queued, while the device is offline)', params: MachineIdParam, body: OpenBody, response: answers({ 201: LiveSession }) } },
      async (req, reply) => reply.code(201).send(await live.open(principalOf(req), req.params.id, req.body.comment)),
    );

    app.get('/liveResponseSessions', { config: { access: 'live.read' }, schema: { tags, summary: 'Cordon: live-response sessions, newest first', querystring: ListQuery, response: answers({ 200: LiveSessionList }) } }, async (req) =>
      odata('LiveSessions', await live.list(req.query.machineId, req.query.$top)),
    );

    app.get('/liveResponseSessions/:id', { config: { access: 'live.read' }, schema: { tags, summary: 'Cordon: one live-response session', params: IdParam, response: answers({ 200: LiveSession }) } }, async (req) => live.get(req.params.id));

    app.post(
      '/liveResponseSessions/:id/commands',
      { config: { access: 'live.basic', audit: { action: 'LiveResponseCommand', targetType: 'action' } }, schema: { tags, summary: 'Cordon: run a line in a session (its output follows on the stream)', params: IdParam, body: LineBody, response: answers({ 202: LiveCommand }) } },
      async (req, reply) => {
        const { line, cols, rows } = req.body;
        return reply.code(202).send(await live.run(principalOf(req), req.params.id, line, cols && rows ? { cols, rows } : undefined));
      },
    );

    app.post(
      '/liveResponseSessions/:id/commands/:seq/input',
      {
        config: { access: 'live.basic', audit: { action: 'LiveResponseShellInput', targetType: 'action' } },
        schema: { tags, summary: 'Cordon: keystrokes and/or a terminal resize for a running shell (kept in the transcript)', params: SeqParam, body: InputBody, response: answers({ 202: LiveInputAccepted }) },
      },
      async (req, reply) => reply.code(202).send(await live.input(principalOf(req), req.params.id, req.params.seq, req.body)),
    );

    // Tab completion: not a line (no transcript, not audited one by one; refusals are), at most 10 a second per session.
    app.post(
      '/liveResponseSessions/:id/complete',
      { config: { access: 'live.basic', audit: { action: 'LiveResponseComplete', targetType: 'action' } }, schema: { tags, summary: "Cordon: Tab completion of a path on the device, in the session's working directory (the opener only)", params: IdParam, body: CompleteBody, response: answers({ 200: LiveCompletion }) } },
      async (req) => live.complete(principalOf(req), req.params.id, req.body.path),
    );

    app.post(
      '/liveResponseSessions/:id/commands/:seq/cancel',
      { config: { access: 'live.basic', audit: { action: 'CancelLiveResponseCommand', targetType: 'action' } }, schema: { tags, summary: 'Cordon: stop a running line (Ctrl-C)', params: SeqParam, response: answers({ 202: LiveCommand }) } },
      async (req, reply) => reply.code(202).send(await live.cancel(principalOf(req), req.params.id, req.params.seq)),
    );

    app.post(
      '/liveResponseSessions/:id/end',
      { config: { access: 'live.basic', audit: { action: 'EndLiveResponseSession', targetType: 'action' } }, schema: { tags, summary: 'Cordon: end a session', params: IdParam, body: EndBody, response: answers({ 200: LiveSession }) } },
      async (req) => live.end(principalOf(req), req.params.id, req.body.comment ?? 'Session ended'),
    );

    app.get(
      '/liveResponseSessions/:id/transcript',
      { config: { access: 'live.read' }, schema: { tags, summary: 'Cordon: the transcript (JSON, or asciicast v2 with format=cast)', params: IdParam, querystring: TranscriptQuery, response: answers({ 200: LiveTranscript.or(z.string()) }) } },
      async (req, reply) => {
        if (req.query.format === 'json') return live.transcript(req.params.id);
        const cast = await live.cast(req.params.id);
        return reply
          .header('content-type', 'application/x-asciicast')
          .header('content-disposition', `attachment; filename="live-response-${req.params.id}.cast"`)
          .serializer((x: unknown) => x as string)
          .send(cast);
      },
    );

    app.get('/liveResponseSessions/:id/files', { config: { access: 'live.read' }, schema: { tags, summary: 'Cordon: the files getfile sent in a session', params: IdParam, response: answers({ 200: LiveFileList }) } }, async (req) => {
      await live.get(req.params.id);
      return odata('LiveFiles', await files.list(req.params.id));
    });

    app.get(
      '/liveResponseSessions/:id/files/:fileId/content',
      { config: { access: 'live.read', audit: { action: 'DownloadLiveResponseFile', targetType: 'action' } }, schema: { tags, summary: 'Cordon: download a file getfile sent', params: FileParam, produces: ['application/octet-stream'], response: { 200: FileStream } } },
      async (req, reply) => {
        const { file, stream } = await files.download(req.params.id, req.params.fileId);
        const name = (file.path.split('/').pop() || 'file').replace(/[^A-Za-z0-9._-]/g, '_');
        return reply
          .header('content-type', 'application/octet-stream')
          .header('content-length', String(file.size))
          .header('x-content-sha256', file.sha256 ?? '')
          .header('content-disposition', `attachment; filename="${name}"`)
          .send(stream);
      },
    );

    app.get(
      '/liveResponseSessions/:id/socket',
      { websocket: true, config: { access: 'live.read' }, schema: { tags, summary: 'Cordon: a session over one WebSocket: send lines, keystrokes and Ctrl-C, get their answers and every event of the session (see LiveSession docs in the README)', params: IdParam } },
      (socket, req) => serveLiveSocket(fastify, live, audit, socket, req, req.params.id),
    );

    app.get('/liveResponseSessions/:id/stream', { config: { access: 'live.read' }, schema: { tags, summary: 'Cordon: follow a session (server-sent events: everything so far, then each change)', params: IdParam, response: { 200: EventStream } } }, async (req, reply) => {
      await live.get(req.params.id);
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache, no-transform', connection: 'keep-alive', 'x-accel-buffering': 'no', 'x-content-type-options': 'nosniff' });
      res.write('retry: 2000\n\n');
      open.add(res);
      const stop = live.follow(
        req.params.id,
        (e) => {
          if (res.writableLength > MAX_BACKLOG_BYTES) return void res.destroy();
          res.write(`event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
        },
        (err) => {
          req.log.error({ err }, 'following a live-response session failed');
          res.end();
        },
      );
      const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      const recheck = recheckAccess(fastify, req, () => res.end());
      req.raw.on('close', () => {
        open.delete(res);
        stop();
        clearInterval(heartbeat);
        recheck.stop();
      });
    });
  };
}
