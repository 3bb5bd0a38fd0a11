import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Metrics } from '../metrics.js';
import type { z } from 'zod';
import { answers, Health } from '../api/schemas.js';

// Liveness checks and metrics scrapes come from load balancers and monitoring, often through one
// shared address: they are never counted against the rate limit, or they would lock that address
// (and everyone behind it) out of the API and sign-in.
const unlimited = { access: 'public' as const, rateLimit: false as const };

export function healthRoutes(metrics: Metrics, health: () => Promise<z.infer<typeof Health>>) {
  return async (app: FastifyInstance) => {
    const answer = async (_req: unknown, reply: FastifyReply) => {
      const h = await health();
      return reply.code(h.status === 'ok' ? 200 : 503).send(h);
    };
    app.get('/api/health', { config: unlimited, schema: { tags: ['health'], summary: 'Liveness: the node that answered, whether it reaches its store, a few figures (503 when it cannot)', response: answers({ 200: Health, 503: Health }) } }, answer);
    app.get('/api/v1.0/health', { config: unlimited, schema: { hide: true, response: answers({ 200: Health, 503: Health }) } }, answer);
    app.get('/metrics', { config: unlimited, schema: { hide: true } }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
    app.get('/api/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());
  };
}
