import { z } from 'zod';
import type { ContentKind } from './content-kind.js';

/** The signed content agents keep the uploaded rule packs in: every pack in force, in one bundle. */
export const RULEPACKS_CONTENT = { kind: 'rulepack', name: 'default' } as const satisfies { kind: ContentKind; name: string };

/** The rule pack every agent has built in (`yara/rules/cordon-default.yar`); uploads may not take its name. */
export const BUILT_IN_RULEPACK = 'cordon-default';

/** Largest rule pack source an admin may upload. */
export const MAX_RULEPACK_BYTES = 4 * 1024 * 1024;

/** A rule pack's name: also how an alert names where its rule came from. */
export const RulePackName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_-]{0,63}$/i, "must be 1-64 letters, digits, '_' or '-', starting with a letter or digit");

export const RulePackEntry = z.strictObject({
  name: RulePackName,
  version: z.number().int().positive(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  source: z.string().max(MAX_RULEPACK_BYTES),
});
export type RulePackEntry = z.infer<typeof RulePackEntry>;

/** The bundle: the uploaded packs in force (the built-in one is not in it: agents carry it). */
export const RulePacksContent = z.strictObject({ format: z.literal('cordon-rulepacks/v1'), packs: z.array(RulePackEntry) });
export type RulePacksContent = z.infer<typeof RulePacksContent>;
