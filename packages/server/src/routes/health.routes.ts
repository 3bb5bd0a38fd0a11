import type { FastifyInstance } from 'fastify';
import type { Metrics } from '../metrics.js';
import { answers, Health } from '../api/schemas.js';

// Liveness checks and metrics scrapes come from load balancers and monitoring, often through one
// shared address: they are never counted against the rate limit, or they would lock that address
// (and everyone behind it) out of the API and sign-in.
const unlimited = { access: 'public' as const, rateLimit: false as const };

export function healthRoutes(metrics: Metrics, status: () => { connectedAgents: number; version: string }) {
  return async (app: FastifyInstance) => {
    app.get('/api/health', { config: unlimited, schema: { tags: ['health'], summary: 'Liveness and a few figures', response: answers({ 200: Health }) } }, async () => ({ status: 'ok', ...status() }));
    app.get('/api/v1.0/health', { config: unlimited, schema: { hide: true, response: answers({ 200: Health }) } }, async () => ({ status: 'ok', ...status() }));
    app.get('/metrics', { config: unlimited, schema: { hide: true } }, async (_req, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()));
    app.get('/api/openapi.json', { config: { access: 'public' }, schema: { hide: true } }, async () => app.swagger());
  };
}
