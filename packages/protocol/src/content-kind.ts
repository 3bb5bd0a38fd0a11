import { z } from 'zod';

// What names a piece of signed content, apart from content.ts: the envelope's `content` frame uses
// these too, and content.ts (through signing.ts) depends on the envelope.

export const ContentKind = z.enum(['indicators', 'rulepack', 'script']);
export type ContentKind = z.infer<typeof ContentKind>;

/** Also a directory name on the device: no separators, no dots first. */
export const ContentName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/);

/** Grows with every publication of kind + name; a device never goes back to a lower one. */
export const ContentVersion = z.number().int().positive().max(Number.MAX_SAFE_INTEGER);
