import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { ListParams } from '../odata/compile.js';

/** Every action needs a reason; MDE clients send it as `Comment`. */
export const Comment = z
  .string({ error: (i) => (i.input === undefined ? 'is required: say why you take this action' : 'must be text') })
  .trim()
  .min(1, 'is required: say why you take this action')
  .max(4000, 'must be at most 4000 characters');

export const MachineIdParam = z.object({ id: z.string().min(1).max(512) });
export const IdParam = z.object({ id: z.string().min(1).max(128) });

export const ListQuery = z.object({
  $filter: z.string().max(4096).optional(),
  $top: z.coerce.number().int().min(1).max(10000).default(10000),
  $skip: z.coerce.number().int().min(0).max(10_000_000).default(0),
  /** OData: also answer how many match the filter in all (`@odata.count`), for paging. */
  $count: z.enum(['true', 'false']).optional().transform((v) => v === 'true'),
  $orderby: z.string().max(200).optional(),
});
export type ListQuery = z.infer<typeof ListQuery>;

/** A tag reads as what it is: no control characters, and no invisible formatting (bidirectional overrides, zero-width characters). */
export const Tag = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[^\p{Cc}\p{Cf}]+$/u, 'must not contain control characters or invisible formatting characters (bidirectional overrides, zero-width characters)');

export const listParams = (q: ListQuery): ListParams => ({ filter: q.$filter, orderby: q.$orderby, top: q.$top, skip: q.$skip, count: q.$count });
export const listOf = <T>(context: string, page: { value: T[]; count?: number }) => odata(context, page.value, page.count);

export function odata<T>(context: string, value: T[], count?: number): { '@odata.context': string; '@odata.count'?: number; value: T[] } {
  return { '@odata.context': `/api/$metadata#${context}`, ...(count !== undefined ? { '@odata.count': count } : {}), value };
}

/**
 * For a hot route whose answer a view function builds field by field (so there is nothing to strip):
 * written as it is instead of parsed against its schema again first, which cost more than building
 * it. The schema still documents the answer.
 */
export const writtenAsBuilt = { serializerCompiler: () => (data: unknown) => JSON.stringify(data) };

/** How often a long-lived answer (an event stream, a session's socket) asks whether its caller still holds. */
const RECHECK_MS = 5_000;

/**
 * Asks every few seconds whether the request's credential still holds and still grants its route
 * (a signed-out session, a revoked token, a lowered role); calls `revoked` when it does not.
 * Answers `check` (to ask at once) and `stop`.
 */
export function recheckAccess(fastify: FastifyInstance, req: FastifyRequest, revoked: () => void): { check: () => void; stop: () => void } {
  const check = () =>
    void fastify.stillAuthorized(req).then((ok) => {
      if (!ok) revoked();
    });
  const timer = setInterval(check, RECHECK_MS);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
