import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurable } from '../../durable.js';

/**
 * The restriction journal, `<dataDir>/restriction.json`: whether only trusted programs may start.
 * The agent enforces it at start (before it connects) and from the watchdog.
 */
export const RestrictionState = z.object({
  state: z.enum(['Restricted', 'Unrestricted']),
  since: z.string().nullable(),
  actionId: z.string().nullable(),
});
export type RestrictionState = z.infer<typeof RestrictionState>;

export const UNRESTRICTED: RestrictionState = { state: 'Unrestricted', since: null, actionId: null };
/** What a damaged journal is taken to mean: restricted, the safe reading for a security tool. */
export const DAMAGED: RestrictionState = { state: 'Restricted', since: null, actionId: null };

export const restrictionFile = (dataDir: string): string => join(dataDir, 'restriction.json');

/** The journal; a damaged one reads as Restricted (never "released because a file is unreadable"), told to `onDamaged`. */
export function readRestrictionOrFailClosed(dataDir: string, onDamaged?: (e: Error) => void): RestrictionState {
  const file = restrictionFile(dataDir);
  if (!existsSync(file)) return UNRESTRICTED;
  let parsed: ReturnType<typeof RestrictionState.safeParse>;
  try {
    parsed = RestrictionState.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  } catch (e) {
    onDamaged?.(new Error(`${file} is damaged (${(e as Error).message})`));
    return DAMAGED;
  }
  if (parsed.success) return parsed.data;
  onDamaged?.(new Error(`${file} is damaged (${parsed.error.issues[0]?.message})`));
  return DAMAGED;
}

export function writeRestriction(dataDir: string, state: RestrictionState): void {
  writeFileDurable(restrictionFile(dataDir), JSON.stringify(state, null, 2));
}
