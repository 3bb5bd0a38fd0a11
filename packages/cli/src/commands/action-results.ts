import { RESTRICTION_NOT_COVERED, RestrictionReport } from '@cordon/protocol';
import { scanResultOf, skipReasonLabel, type ScanResult } from '@cordon/protocol/scan-result';
import type { MachineAction } from '../api-client.js';
import { safeText, tableText } from '../output.js';

const plural = (n: number, one: string, many = `${one}s`) => `${n.toLocaleString('en-US')} ${n === 1 ? one : many}`;
const size = (bytes: number) => (bytes >= 1e9 ? `${(bytes / 1e9).toFixed(1)} GB` : bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`);

/** A finished scan for people (device-reported text made safe for a terminal): what it read and how, each detection with its alert, what it skipped and why. */
export function scanSummary(r: ScanResult): string {
  const lines: string[] = [];
  const members = r.archiveMembers ? ` (and ${plural(r.archiveMembers, 'archive member')})` : '';
  lines.push(`${safeText(r.scanType)} scan: ${plural(r.files, 'file')}, ${size(r.bytes)}${members} in ${(r.durationMs / 1000).toFixed(1)} s, at ${r.cpuPercentUsed}% CPU (cap ${r.cpuPercentCap}%)`);
  const packs = r.rules.packs.map((p) => `${safeText(String(p.name))} v${p.version}`).join(', ');
  lines.push(`Rules: ${plural(r.rules.ruleCount, 'rule')} (built-in${packs ? `, ${packs}` : ''}), ${plural(r.hashIndicators, 'hash indicator')}`);
  if (r.detections === 0) lines.push('No detections.');
  else {
    const listed = r.detectionList.length < r.detections ? ` (the first ${r.detectionList.length} listed; every one is an alert)` : '';
    lines.push(`${plural(r.detections, 'detection')}${listed}:`);
    lines.push(tableText(['threat', 'path', 'severity', 'alert'], r.detectionList.map((d) => [d.threat, d.path, d.severity, d.alertId ?? '(not in yet)'])));
  }
  const reasons = Object.entries(r.skippedByReason).filter(([, n]) => n > 0);
  lines.push(r.skipped === 0 ? 'Nothing skipped.' : `Skipped ${plural(r.skipped, 'file')}: ${reasons.map(([k, n]) => `${n.toLocaleString('en-US')} ${safeText(skipReasonLabel(k))}`).join(', ')}`);
  const { links, special } = r.notRead;
  if (links || special) lines.push(`Not read, by design: ${plural(links, 'symbolic link')} (never followed), ${plural(special, 'device node, FIFO or socket', 'device nodes, FIFOs and sockets')}`);
  return `${lines.join('\n')}\n`;
}

/** What an action's result says, for people, when there is more to it than its row (a scan's findings). */
export function resultSummary(a: MachineAction): string | null {
  if (a.type === 'RunAntiVirusScan') {
    const r = scanResultOf(a.result);
    return r ? scanSummary(r) : null;
  }
  if (a.type === 'RestrictCodeExecution') return restrictionSummary(a.result);
  return null;
}

/** A finished restriction for people: what the guard trusts, and what it does not stop (the agent says it; the protocol's list otherwise). */
export function restrictionSummary(result: unknown): string | null {
  const parsed = RestrictionReport.safeParse((result as { restriction?: unknown } | null)?.restriction);
  if (!parsed.success) return null;
  const r = parsed.data;
  const lines = [`${r.state}${r.since ? ` since ${r.since}` : ''}${r.trusted ? `: trusts ${plural(r.trusted.packageFiles, 'package file')} and ${plural(r.trusted.allowedHashes, 'allowed hash', 'allowed hashes')}` : ''}`];
  if (r.error) lines.push(`Problem: ${safeText(r.error)}`);
  const sent = (result as { notCovered?: unknown }).notCovered;
  const notCovered = Array.isArray(sent) && sent.every((s) => typeof s === 'string') ? (sent as string[]) : RESTRICTION_NOT_COVERED;
  if (r.state === 'Restricted') lines.push('Not covered:', ...notCovered.map((n) => `- ${safeText(n)}`));
  return `${lines.join('\n')}\n`;
}

/** Whether the result names alerts the server has not linked yet (their events may trail the result by a moment). */
export function awaitsAlerts(a: MachineAction): boolean {
  return a.type === 'RunAntiVirusScan' && (scanResultOf(a.result)?.detectionList.some((d) => !d.alertId) ?? false);
}
