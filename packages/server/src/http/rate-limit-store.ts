import type { FastifyRateLimitStore, FastifyRateLimitStoreCtor } from '@fastify/rate-limit';
import type { Counters } from '../services/counters.js';

/**
 * @fastify/rate-limit's store over Cordon's counters: in memory on one node, in the store when
 * several nodes share it, so a caller spreading requests over nodes gets no bigger budget.
 */
export function countersStore(counters: Counters): FastifyRateLimitStoreCtor {
  return class CountersStore implements FastifyRateLimitStore {
    incr(key: string, callback: (error: Error | null, result?: { current: number; ttl: number }) => void, timeWindow?: number): void {
      const now = Date.now();
      counters.hit(`rate:${key}`, timeWindow ?? 60_000, now).then(
        (c) => callback(null, { current: c.count, ttl: Math.max(0, c.resetAt - now) }),
        (e: unknown) => callback(e instanceof Error ? e : new Error(String(e))),
      );
    }
    // The plugin passes each route's window to incr: one store serves every route.
    child(): FastifyRateLimitStore {
      return this;
    }
  };
}
