import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { AllowList, type IsolationReport } from '@cordon/protocol';
import { writeFileDurable } from '../durable.js';

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
  /** The server's addresses when isolation was applied: used if its name cannot be resolved later (e.g. at boot). */
  serverAddresses: z.array(z.string()).max(64).default([]),
  /** Break-glass tokens already used here: each releases once. */
  usedReleaseTokens: z.array(z.string()).max(10_000),
});
export type IsolationState = z.infer<typeof IsolationState>;

export const NOT_ISOLATED: IsolationState = { state: 'NotIsolated', type: null, allow: [], since: null, actionId: null, releasedBy: null, serverAddresses: [], usedReleaseTokens: [] };

export const isolationFile = (dataDir: string): string => join(dataDir, 'isolation.json');

export function readIsolation(dataDir: string): IsolationState {
  const file = isolationFile(dataDir);
  if (!existsSync(file)) return NOT_ISOLATED;
  const parsed = IsolationState.safeParse(JSON.parse(readFileSync(file, 'utf8')));
  // A damaged journal must not silently release a device: refuse to guess.
  if (!parsed.success) throw new Error(`${file} is damaged (${parsed.error.issues[0]?.message}); fix or remove it`);
  return parsed.data;
}

export function writeIsolation(dataDir: string, state: IsolationState): void {
  writeFileDurable(isolationFile(dataDir), JSON.stringify(state, null, 2));
}

export function reportOf(s: IsolationState): IsolationReport {
  return { state: s.state, type: s.type, since: s.since, releasedBy: s.releasedBy };
}
