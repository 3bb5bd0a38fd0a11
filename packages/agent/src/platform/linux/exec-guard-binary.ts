import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A native helper compiled by scripts/build.mjs into packages/agent/native/build/. */
export interface NativeBinary {
  path: string;
  /** False when the install step could not compile it (no `cc` or no libcrypto headers). */
  exists: boolean;
}

/**
 * Where a helper lies: seen from this module in the sources (packages/agent/src/platform/linux/)
 * or from the CLI bundle (packages/cli/dist/), both in one checkout.
 */
function nativeBinary(name: string): NativeBinary {
  const candidates = [`../../../native/build/${name}`, `../../agent/native/build/${name}`].map((rel) => fileURLToPath(new URL(rel, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  return { path: found ?? candidates[0]!, exists: found !== undefined };
}

/** The fanotify exec-guard (`cordon-exec-guard --policy FILE [--deadline-ms N]`, see native/exec-guard.c). */
export function execGuardBinary(): NativeBinary {
  return nativeBinary('cordon-exec-guard');
}

/** The exec probe of the guard's test and benchmark (`exec-probe PATH...`, see native/exec-probe.c). */
export function execProbeBinary(): NativeBinary {
  return nativeBinary('exec-probe');
}
