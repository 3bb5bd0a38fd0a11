import { createHash } from 'node:crypto';
import { createReadStream, existsSync, statSync } from 'node:fs';
import type { IndicatorEntry } from '@cordon/protocol';
import { canonicalizer, dpkgPolicyLines, readRpmPolicyLines } from '../../platform/linux/package-digests.js';

/** Where the trusted files come from (injectable: tests point at fixture databases). */
export interface TrustSources {
  /** dpkg's info directory (its `*.md5sums`). */
  dpkgInfoDir: string;
  /** rpm's file digests, or null when rpm is not installed. */
  rpmLines: () => Promise<string[] | null>;
  /** Programs always trusted by content: the agent's own runtime and the guard. */
  selfPaths: readonly string[];
  /**
   * The package managers whose children may start anything (the guard's `manager` lines): dpkg runs
   * maintainer scripts no md5sums lists, and they may run programs unpacked a moment before.
   */
  managerPaths: readonly string[];
}

export const DEFAULT_TRUST_SOURCES: TrustSources = {
  dpkgInfoDir: '/var/lib/dpkg/info',
  rpmLines: () => readRpmPolicyLines(),
  selfPaths: [process.execPath],
  managerPaths: ['/usr/bin/dpkg', '/usr/bin/rpm'],
};

export interface TrustList {
  /** The guard's policy file (latin1: paths are raw bytes). */
  policy: Buffer;
  packageFiles: number;
  allowedHashes: number;
  /** Per source, for the action's result. */
  sources: { dpkg: number; rpm: number | null; allowIndicators: number; self: number; packageManagers: string[] };
}

const hashCache = new Map<string, { key: string; sha256: string }>();

/** A file's SHA-256, remembered while its size and mtime stay (the runtime is ~100 MB: hashed once). */
export async function sha256File(path: string): Promise<string> {
  const st = statSync(path);
  const key = `${st.size} ${st.mtimeMs} ${st.ino}`;
  const had = hashCache.get(path);
  if (had?.key === key) return had.sha256;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  const sha256 = hash.digest('hex');
  hashCache.set(path, { key, sha256 });
  return sha256;
}

/** The package managers installed here that a package lists (so their content is checked too), canonical like the lines' paths. */
function installedManagers(candidates: readonly string[], packageLines: readonly string[]): string[] {
  const canonical = canonicalizer();
  const wanted = new Set(candidates.map(canonical).filter((p) => existsSync(p)));
  if (wanted.size === 0) return [];
  const found = new Set<string>();
  for (const line of packageLines) {
    // `md5 <hex> <path>` / `sha256 <hex> <path>`: the path is the rest after the second space.
    const path = line.slice(line.indexOf(' ', line.indexOf(' ') + 1) + 1);
    if (wanted.has(path)) found.add(path);
  }
  return [...found];
}

/**
 * The trust list: every file a package database vouches for (by path and content), every
 * `Allowed` SHA-256 indicator in force, Cordon's own programs, and the package managers whose
 * children the guard lets start (an upgrade must not lock the device). A package database that cannot
 * be read throws with the reason: restricting with an empty list would leave a device where nothing runs.
 */
export async function buildTrustList(indicators: readonly IndicatorEntry[], sources: TrustSources): Promise<TrustList> {
  let dpkg: string[] = [];
  let dpkgError: string | null = null;
  try {
    dpkg = dpkgPolicyLines(sources.dpkgInfoDir);
  } catch (e) {
    dpkgError = `cannot read ${sources.dpkgInfoDir}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
  }
  const rpm = await sources.rpmLines();
  if (dpkg.length === 0 && (rpm === null || rpm.length === 0)) {
    throw new Error(
      `No package database could be read (${dpkgError ?? `no *.md5sums in ${sources.dpkgInfoDir}`}${rpm === null ? '; rpm is not installed' : '; rpm lists no file digests'}): restricting now would stop every program, so nothing was restricted`,
    );
  }
  const allowed = new Set<string>();
  let allowIndicators = 0;
  for (const e of indicators) {
    if (e.type !== 'FileSha256' || e.action !== 'Allowed' || !/^[0-9a-fA-F]{64}$/.test(e.value)) continue;
    allowed.add(e.value.toLowerCase());
    allowIndicators++;
  }
  for (const path of sources.selfPaths) allowed.add(await sha256File(path));
  const packageLines = [...dpkg, ...(rpm ?? [])];
  const managers = installedManagers(sources.managerPaths, packageLines);
  const text = ['cordon-exec-policy 1', ...packageLines, ...[...allowed].map((h) => `allow-sha256 ${h}`), ...managers.map((p) => `manager ${p}`), ''].join('\n');
  return {
    policy: Buffer.from(text, 'latin1'),
    packageFiles: packageLines.length,
    allowedHashes: allowed.size,
    sources: { dpkg: dpkg.length, rpm: rpm === null ? null : rpm.length, allowIndicators, self: sources.selfPaths.length, packageManagers: managers },
  };
}
