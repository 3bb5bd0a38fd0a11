import { z } from 'zod';

/**
 * Restrict app execution, as the agent reports it (inventory and the actions' results): whether
 * only trusted programs may start, since when, and how its kernel-side guard is doing. The
 * machine's `restrictionState` follows from it (Pending while an action is in flight).
 */
export const RestrictionReport = z.strictObject({
  state: z.enum(['Restricted', 'Unrestricted']),
  /** When the restriction started; null when unrestricted. */
  since: z.iso.datetime().nullable(),
  /**
   * The exec guard while restricted: `running`, or `restarting` after it stopped (the kernel lets
   * programs start until it is back: a dead guard never freezes the device). Null when unrestricted.
   */
  guard: z.enum(['running', 'restarting']).nullable(),
  /** The last problem with the guard or its trust list (the guard died, the package database could not be read), or null. */
  error: z.string().max(512).nullable(),
  /** What the guard trusts now: files the package database vouches for, and allowed SHA-256 hashes; null when unrestricted. */
  trusted: z.strictObject({ packageFiles: z.number().int().nonnegative(), allowedHashes: z.number().int().nonnegative() }).nullable(),
});
export type RestrictionReport = z.infer<typeof RestrictionReport>;

/**
 * What a restriction does not stop, said in the action's result, on the device page and in the
 * README: the kernel's exec checks see programs started, not files read by one; and what the
 * package manager starts is let through on purpose.
 */
export const RESTRICTION_NOT_COVERED: readonly string[] = [
  'Scripts fed to an interpreter (bash script.sh, python3 script.py) are not program starts: the interpreter is the program checked, and it is trusted.',
  'Programs started inside a new mount namespace (containers, services with PrivateTmp or ProtectSystem) are not checked: the guard watches the mounts of the agent\'s own namespace.',
  'Programs run from memory (memfd_create then execve) are not checked.',
  'Code loaded into a running program (shared libraries, JIT code) is not checked.',
  'Programs the package manager (dpkg, rpm, run as root) starts during installs and upgrades are allowed, whatever they are: an upgrade must run its maintainer scripts and the programs it just unpacked.',
];
