import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { writeFileDurable } from './durable.js';

/** What enrollment leaves on the device: who it is, how to prove it, whom to trust, and the server nodes it may connect to. */
export const EnrollmentState = z.strictObject({
  serverUrls: z.array(z.string().url()).min(1),
  machineId: z.string().regex(/^[0-9a-f]{40}$/),
  credential: z.string().min(10),
  caCertPem: z.string().includes('BEGIN CERTIFICATE'),
  signingPublicKeyPem: z.string().includes('BEGIN PUBLIC KEY'),
  enrolledAt: z.string(),
});
export type EnrollmentState = z.infer<typeof EnrollmentState>;

export const stateFile = (dataDir: string): string => join(dataDir, 'enrollment.json');

/** A file written before agents knew several nodes has one `serverUrl`: it reads as a list of one. */
function upgrade(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || !('serverUrl' in raw) || 'serverUrls' in raw) return raw;
  const { serverUrl, ...rest } = raw as Record<string, unknown>;
  return { ...rest, serverUrls: [serverUrl] };
}

export function readState(dataDir: string): EnrollmentState | null {
  const file = stateFile(dataDir);
  if (!existsSync(file)) return null;
  const parsed = EnrollmentState.safeParse(upgrade(JSON.parse(readFileSync(file, 'utf8'))));
  if (!parsed.success) throw new Error(`${file} is damaged (${parsed.error.issues[0]?.message}); enroll the agent again`);
  return parsed.data;
}

export function writeState(dataDir: string, state: EnrollmentState): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Durable: a power cut right after enrolling must not leave a torn file (the agent could not start again).
  writeFileDurable(stateFile(dataDir), JSON.stringify(state, null, 2));
}
