/**
 * A Run antivirus scan's result, as its agent reports it and the API answers it (free of Node
 * built-ins and zod, so the console bundles it): the CLI's summary and the console's result pane
 * read it through {@link scanResultOf}.
 */

/** One detection the result lists (the first 200; every detection is an alert). */
export interface ScanDetection {
  path: string;
  threat: string;
  /** 'YARA' or 'Indicator'. */
  engine: string;
  /** The rule pack, or the indicator's id. */
  source: string;
  severity: string;
  sha256?: string;
  /** The agent event it was reported as. */
  eventId: string;
  /** The alert it became, added by the server when the action is read; null while the server has none yet. */
  alertId?: string | null;
}

export interface ScanSkip {
  path: string;
  reason: string;
  detail: string;
}

export interface ScanResult {
  scanType: string;
  cpuPercentCap: number;
  cpuPercentUsed: number;
  rules: { packs: { name: string; version: number }[]; ruleCount: number; contentVersion: number | null };
  hashIndicators: number;
  roots: number;
  files: number;
  bytes: number;
  archiveMembers: number;
  detections: number;
  detectionList: ScanDetection[];
  skipped: number;
  skippedByReason: Record<string, number>;
  skippedList: ScanSkip[];
  notRead: { directories: number; special: number; links: number };
  durationMs: number;
}

/** A result that has a scan's counts, read as one (fields an older agent left out are zero or empty); anything else is null. */
export function scanResultOf(result: Record<string, unknown> | null | undefined): ScanResult | null {
  if (!result || typeof result.files !== 'number' || !Array.isArray(result.detectionList)) return null;
  const num = (v: unknown) => (typeof v === 'number' ? v : 0);
  const rules = (result.rules ?? {}) as Partial<ScanResult['rules']>;
  const notRead = (result.notRead ?? {}) as Partial<ScanResult['notRead']>;
  return {
    scanType: String(result.scanType ?? ''),
    cpuPercentCap: num(result.cpuPercentCap),
    cpuPercentUsed: num(result.cpuPercentUsed),
    rules: { packs: Array.isArray(rules.packs) ? rules.packs : [], ruleCount: num(rules.ruleCount), contentVersion: typeof rules.contentVersion === 'number' ? rules.contentVersion : null },
    hashIndicators: num(result.hashIndicators),
    roots: num(result.roots),
    files: result.files,
    bytes: num(result.bytes),
    archiveMembers: num(result.archiveMembers),
    detections: num(result.detections),
    detectionList: result.detectionList as ScanDetection[],
    skipped: num(result.skipped),
    skippedByReason: (result.skippedByReason ?? {}) as Record<string, number>,
    skippedList: Array.isArray(result.skippedList) ? (result.skippedList as ScanSkip[]) : [],
    notRead: { directories: num(notRead.directories), special: num(notRead.special), links: num(notRead.links) },
    durationMs: num(result.durationMs),
  };
}

/** Why a file was not scanned, as people say it (the agent's reason codes). */
export const SKIP_REASON_LABELS: Readonly<Record<string, string>> = {
  Vanished: 'vanished before it was read',
  Unreadable: 'unreadable',
  NotRegular: 'not a regular file',
  TooLarge: 'over the size limit',
  Timeout: 'took too long to read',
  Error: 'read error',
  TooDeep: 'archive nested too deep',
  TooManyMembers: 'archive with too many members',
  TotalTooLarge: 'archive too large unpacked',
  Encrypted: 'encrypted archive member',
  Corrupt: 'corrupt archive',
  Unsupported: 'unsupported archive format',
};

export const skipReasonLabel = (reason: string): string => SKIP_REASON_LABELS[reason] ?? reason;
