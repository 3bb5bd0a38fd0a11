import { z } from 'zod';
import { defineAction } from './define.js';

/** MDE's file hashes: hex of the right length (either case; the agent compares lowercase). */
export const FileSha256 = z.string().regex(/^[0-9a-fA-F]{64}$/, 'must be a SHA-256: 64 hexadecimal characters');
export const FileSha1 = z.string().regex(/^[0-9a-fA-F]{40}$/, 'must be a SHA-1: 40 hexadecimal characters');

/**
 * Cordon's optional `Path`: where the file is, besides what the agent finds on its own. Absolute,
 * no NUL, no `.` or `..` parts (the agent refuses any symbolic link on the way, so the path must
 * name the file as it is).
 */
export const QuarantinePath = z
  .string()
  .max(4096, 'must be at most 4096 characters')
  .refine((p) => p.startsWith('/') && !p.includes('\0') && p.length > 1 && !p.endsWith('/') && !p.split('/').some((part) => part === '.' || part === '..'), 'must be an absolute path to a file, without . or .. parts');

/** What the agent names a vault item by (a UUID): also a directory name in the vault. */
export const QuarantineId = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a quarantine id as `cordon quarantine list` shows it (a UUID)');

const body = { sha256: FileSha256.optional(), sha1: FileSha1.optional(), path: QuarantinePath.optional() };

/** Actions on the vault run one at a time per device: a restore never races a quarantine of the same file. */
export const QUARANTINE_EXCLUSION_KEY = 'Quarantine';

/** One file the agent moved into its vault. */
export const QuarantinedFile = z.object({
  quarantineId: QuarantineId,
  path: z.string(),
  size: z.number().int().nonnegative(),
  sha256: z.string(),
  sha1: z.string(),
  quarantinedAt: z.string(),
});
export type QuarantinedFile = z.infer<typeof QuarantinedFile>;

/** What StopAndQuarantineFile reports: what it killed, moved, could not find, and refused (and why). */
export const StopAndQuarantineFileResult = z.object({
  sha256: z.string().nullable(),
  sha1: z.string().nullable(),
  killed: z.array(z.object({ pid: z.number().int(), commandLine: z.string() })),
  quarantined: z.array(QuarantinedFile),
  notFound: z.array(z.string()),
  refused: z.array(z.object({ path: z.string(), reason: z.string() })),
});
export type StopAndQuarantineFileResult = z.infer<typeof StopAndQuarantineFileResult>;

/**
 * MDE's StopAndQuarantineFile: kills every process that runs or maps a file with this hash and
 * moves every such file the agent knows of (running programs, the latest scan's index, `Path`)
 * into its root-only vault, where RestoreQuarantinedFile can put it back.
 */
export const stopAndQuarantineFile = defineAction({
  type: 'StopAndQuarantineFile',
  label: 'Stop and quarantine file',
  verbPhrase: 'quarantine files',
  path: 'StopAndQuarantineFile',
  body,
  bodyRule: { check: (b) => Boolean(b.sha256 || b.sha1), message: 'send Sha256 or Sha1', field: 'sha256' },
  parameters: z.strictObject(body),
  capability: 'quarantine',
  minAgentVersion: '0.2.0',
  exclusionKey: QUARANTINE_EXCLUSION_KEY,
  permission: 'actions.submit',
  busy: 'A file is already being quarantined or restored on this device',
  describe: 'The agent on {device} kills every process that runs or maps a file with this hash, and moves every such file it knows of (running programs, its latest scan, the path you give) into its quarantine vault. You can restore each file later.',
  destructive: true,
});
