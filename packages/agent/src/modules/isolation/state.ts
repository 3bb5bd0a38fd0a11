import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { AllowList, type IsolationReport } from '@cordon/protocol';
import { writeFileDurable } from '../../durable.js';

const IpAddress = z.string().refine((a) => isIP(a) !== 0, 'not an IP address');

/**
 * The isolation journal, `<dataDir>/isolation.json`: what the device must look like. The agent
 * enforces it at start (before it connects) and whenever the rules go missing; the break-glass
 * command edits it while the agent runs, so readers always go to the file.
 */
export const IsolationState = z.object({
  state: z.enum(['Isolated', 'NotIsolated']),
  type: z.enum(['Full', 'Selective']).nullable(),
  allow: AllowList,
  since: z.string().nullable(),
  actionId: z.string().nullable(),
  releasedBy: z.enum(['action', 'breakGlass']).nullable(),
  /** The server nodes' addresses and ports when isolation was applied: used if their names cannot be resolved later (e.g. at boot). */
  servers: z
    .array(z.object({ address: IpAddress, port: z.number().int().min(1).max(65535) }))
    .max(64)
    .default([]),
  /** Written by agents before several nodes: the addresses of the one server, on its home port. */
  serverAddresses: z.array(IpAddress).max(64).optional(),
  /** Break-glass tokens already used here: each releases once. */
  usedReleaseTokens: z.array(z.string()).max(10_000),
});
export type IsolationState = z.infer<typeof IsolationState>;

export const NOT_ISOLATED: IsolationState = { state: 'NotIsolated', type: null, allow: [], since: null, actionId: null, releasedBy: null, servers: [], usedReleaseTokens: [] };

export const isolationFile = (dataDir: string): string => join(dataDir, 'isolation.json');

/** What a damaged journal is taken to mean: isolated (Full), the safe reading for a security tool. */
export const DAMAGED: IsolationState = { ...NOT_ISOLATED, state: 'Isolated', type: 'Full' };

export class DamagedJournalError extends Error {}

export function readIsolation(dataDir: string): IsolationState {
  const file = isolationFile(dataDir);
  if (!existsSync(file)) return NOT_ISOLATED;
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new DamagedJournalError(`${file} is damaged (${(e as Error).message})`);
  }
  const parsed = IsolationState.safeParse(json);
  if (!parsed.success) throw new DamagedJournalError(`${file} is damaged (${parsed.error.issues[0]?.message})`);
  return parsed.data;
}

/**
 * The journal, or — when it is damaged — Full isolation: a device must never come off isolation
 * because a file is unreadable. An isolate or release action writes a fresh journal.
 */
export function readIsolationOrFailClosed(dataDir: string, onDamaged?: (e: Error) => void): IsolationState {
  try {
    return readIsolation(dataDir);
  } catch (e) {
    if (!(e instanceof DamagedJournalError)) throw e;
    onDamaged?.(e);
    return DAMAGED;
  }
}

export function writeIsolation(dataDir: string, state: IsolationState): void {
  writeFileDurable(isolationFile(dataDir), JSON.stringify(state, null, 2));
}

export function reportOf(s: IsolationState): IsolationReport {
  return { state: s.state, type: s.type, since: s.since, releasedBy: s.releasedBy };
}
