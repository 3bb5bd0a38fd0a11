import { z } from 'zod';

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
});

export const Tag = z.string().trim().min(1, 'must not be empty').max(128, 'must be at most 128 characters').regex(/^[^\p{Cc}]+$/u, 'must not contain control characters');

export function odata<T>(context: string, value: T[]): { '@odata.context': string; value: T[] } {
  return { '@odata.context': `/api/$metadata#${context}`, value };
}
