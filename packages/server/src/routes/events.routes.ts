import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { EventHub, RevocationSignal } from '../events.js';
import { recheckAccess } from './common.js';

/** Written straight to the socket. (`produces` would label JSON error bodies as event streams too: they go undocumented.) */
const EventStream = z.string().meta({ description: 'Events whose `data` is a LiveEvent (components.schemas.LiveEvent)' });

const EventsQuery = z.object({ machineId: z.string().regex(/^[0-9a-f]{40}$/).optional() });

/** A client that has not taken this much of its stream is too slow: it is cut off and reconnects. */
const MAX_BACKLOG_BYTES = 1024 * 1024;
const HEARTBEAT_MS = 15_000;

/**
 * Live updates as server-sent events: every action state change, machine change and timeline
 * event, as it happens (optionally for one machine). Browsers reconnect on their own (`retry`).
 */
export function eventsRoutes(hub: EventHub, revocations?: RevocationSignal) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    // Open streams never go idle: end them at shutdown, or closing the server would wait on them.
    const open = new Set<import('node:http').ServerResponse>();
    app.addHook('preClose', async () => {
      for (const res of open) res.end();
    });
    app.get('/events', { config: { access: 'machines.read' }, schema: { tags: ['live updates'], summary: 'Server-sent events: action, machine and timeline changes as they happen', querystring: EventsQuery, produces: ['text/event-stream'], response: { 200: EventStream } } }, async (req, reply) => {
      const only = req.query.machineId;
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache, no-transform',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
        'x-content-type-options': 'nosniff',
      });
      res.write('retry: 3000\n\n');
      open.add(res);
      let seq = 0;
      const unsubscribe = hub.subscribe((e) => {
        // Live-response hints are for the session's own stream (they come with every chunk of
        // output) and for the node waiting for a completion's answer.
        if (e.kind === 'liveResponse' || e.kind === 'liveCompletion') return;
        if (only && !('machineId' in e ? e.machineId === only : e.machineIds.includes(only))) return;
        if (res.writableLength > MAX_BACKLOG_BYTES) return void res.destroy();
        res.write(`id: ${++seq}\nevent: ${e.kind}\ndata: ${JSON.stringify(e)}\n\n`);
      });
      const heartbeat = setInterval(() => res.write(': ping\n\n'), HEARTBEAT_MS);
      heartbeat.unref();
      const recheck = recheckAccess(fastify, req, () => res.end());
      // A revocation made by this server is felt at once; one made by the CLI on the store, at the next check.
      const unwatch = revocations?.subscribe(recheck.check);
      req.raw.on('close', () => {
        open.delete(res);
        clearInterval(heartbeat);
        recheck.stop();
        unsubscribe();
        unwatch?.();
      });
    });
  };
}
