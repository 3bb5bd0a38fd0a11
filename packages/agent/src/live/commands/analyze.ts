import { availableParallelism } from 'node:os';
import { posix } from 'node:path';
import { skipReasonLabel } from '@cordon/protocol/scan-result';
import { ClamAvEngine, probeClamAv } from '../../scan/clamav.js';
import { FileHashIndicators } from '../../scan/hash-indicators.js';
import { CpuPacer } from '../../scan/pacer.js';
import { DEFAULT_SCAN_LIMITS, Scanner, type Detection, type IndexedFile, type Skipped } from '../../scan/scanner.js';
import { parseArgs } from '../args.js';
import { CommandError, usageError } from '../errors.js';
import { bytesText, fileType, printable } from '../format.js';
import { statPath } from '../paths.js';
import type { ContentBehind, LiveCommand } from '../types.js';
import { realDirectory } from '../write.js';

/** clean: nothing matched; malicious: a Medium or High detection; suspicious: only Low or Informational ones; could-not-scan: not read whole. */
export type Verdict = 'clean' | 'malicious' | 'suspicious' | 'could-not-scan';

/** One thing that matched, as `analyze` reports it. */
export interface AnalyzeMatch {
  engine: Detection['engine'];
  /** The rule's name, the indicator's title, or ClamAV's signature. */
  threat: string;
  /** The rule pack, `indicator <id>`, or ClamAV's version. */
  source: string;
  rules: string[];
  severity: Detection['severity'];
  category: string;
  description: string | null;
  mitre: string[];
  /** The file, or the archive member (`file!member`) that matched. */
  path: string;
  memberSha256?: string;
}

/** What `analyze` answers for the API. */
export interface AnalyzeResult {
  path: string;
  verdict: Verdict;
  /** Why the file could not be scanned (whole), or null. */
  reason: string | null;
  size: number | null;
  sha256: string | null;
  sha1: string | null;
  matches: AnalyzeMatch[];
  /** What was left unscanned (the file itself, or archive members), with why. */
  skipped: Skipped[];
  engines: {
    yara: { ruleCount: number; packs: { name: string; version: number }[]; contentVersion: number | null };
    hashIndicators: { count: number; contentVersion: number | null };
    clamav: { version: string; engine: 'clamd' | 'clamscan'; problem: string | null } | { unavailable: string };
  };
  /** Scan content older on this device than the server named for this line, and why. */
  contentBehind: ContentBehind[];
  /** Always false: analyze raises no alert and quarantines nothing. */
  alerted: false;
}

const SERIOUS: readonly Detection['severity'][] = ['Medium', 'High'];

/**
 * `analyze <path>`: scans one regular file with the antivirus scan's own engines and content (the
 * YARA rules of every pack in force, the file-hash indicators, ClamAV when the device has it),
 * brought up to the versions the server had published when it signed the line, and gives a
 * verdict with what matched. It is a look, not a response: no alert is raised, no event is sent,
 * nothing is quarantined. A directory, device node, FIFO, socket or symbolic link is refused and
 * never opened.
 */
export const analyze: LiveCommand = {
  name: 'analyze',
  summary: "Scan one file with the antivirus engines (YARA rules, hash indicators, ClamAV if present) and give a verdict; raises no alert, quarantines nothing",
  usage: 'analyze <path>',
  level: 'basic',
  async run(args, ctx) {
    const { operands } = parseArgs(this, args, { maxOperands: 1 });
    if (operands[0] === undefined) throw usageError(this);
    const typed = ctx.resolve(operands[0]);
    const st = await statPath(ctx.files, typed, { follow: false });
    if (st.isSymbolicLink()) {
      const to = await ctx.files.readlink(typed);
      throw new CommandError(`${printable(typed)} is a symbolic link${to === null ? '' : ` to ${printable(to)}`}; analyze its target by name (links are never followed)`);
    }
    if (!st.isFile()) throw new CommandError(`${printable(typed)} is a ${fileType(st)}, not a regular file: only files are analyzed (it was not opened)`);
    const scanning = ctx.scanning;
    if (!scanning) throw new CommandError('this agent has no scanner set up; nothing was scanned');
    // The scan's walk follows no link: give it the path with the links root controls resolved (/var/run -> /run).
    const path = posix.join(await realDirectory(ctx, posix.dirname(typed)), posix.basename(typed));

    const contentBehind = ctx.scanContent?.length ? await scanning.catchUp(ctx.scanContent) : [];
    for (const b of contentBehind) ctx.trace(`${b.kind}/${b.name}: this device has version ${b.have ?? 'none'}, the server ${b.version}: ${b.problem}`);
    const rules = scanning.rules.current();
    const active = scanning.indicators.active();
    const indicators = new FileHashIndicators(active);
    const { settings } = scanning;
    const clamProbe = settings.clamav.mode === 'off' ? { unavailable: 'turned off (scanClamav: off)' } : await probeClamAv({ databaseDir: settings.clamav.databaseDir, clamdSocket: settings.clamav.clamdSocket }, ctx.platform.processes);
    const clamEngine = 'unavailable' in clamProbe ? undefined : new ClamAvEngine(clamProbe, { maxFileBytes: settings.maxFileBytes, files: ctx.platform.files() });
    ctx.trace(`YARA-X: ${rules.ruleCount} rules; ${active.filter((e) => e.type.startsWith('File')).length} file-hash indicators; ClamAV: ${clamEngine ? clamEngine.available.version : (clamProbe as { unavailable: string }).unavailable}`);

    const detections: Detection[] = [];
    let file: IndexedFile | null = null;
    const scanner = new Scanner({
      rules,
      indicators,
      pacer: new CpuPacer(settings.cpuPercent / 100, availableParallelism(), () => ctx.platform.cpuMicros()),
      limits: { ...DEFAULT_SCAN_LIMITS, maxFileBytes: settings.maxFileBytes, concurrency: 1 },
      // Detections are only collected: analyze reports no event, so no alert is raised.
      onDetection: (d) => detections.push(d),
      onFile: (f) => (file = f),
      ...(clamEngine ? { clamav: { engine: clamEngine, batchFiles: 1 } } : {}),
    });
    const outcome = await scanner.run([{ path, why: 'filesystem', recursive: false }], { signal: ctx.signal });
    ctx.signal.throwIfAborted();
    const scanned = file as IndexedFile | null;
    const clamProblem = outcome.clamav?.problemList[0]?.detail ?? null;
    const result = verdictOf(path, scanned, detections, outcome.skippedList);
    const data: AnalyzeResult = {
      ...result,
      engines: {
        yara: { ruleCount: rules.ruleCount, packs: rules.packs, contentVersion: rules.contentVersion },
        hashIndicators: { count: active.filter((e) => e.type.startsWith('File')).length, contentVersion: scanning.indicators.version },
        clamav: clamEngine ? { version: clamEngine.available.version, engine: clamEngine.available.engine, problem: clamProblem } : { unavailable: (clamProbe as { unavailable: string }).unavailable },
      },
      contentBehind,
      alerted: false,
    };
    ctx.write(render(data));
    return { data };
  },
};

/** The verdict from what the scan found and left out: a match decides it even when parts were not read. */
function verdictOf(path: string, file: IndexedFile | null, detections: Detection[], skipped: Skipped[]): Pick<AnalyzeResult, 'path' | 'verdict' | 'reason' | 'size' | 'sha256' | 'sha1' | 'matches' | 'skipped'> {
  const matches = detections.map((d): AnalyzeMatch => ({ engine: d.engine, threat: d.threat, source: d.source, rules: d.rules, severity: d.severity, category: d.category, description: d.description, mitre: d.mitre, path: d.path, ...(d.memberSha256 ? { memberSha256: d.memberSha256 } : {}) }));
  const facts = { size: file?.size ?? null, sha256: file?.sha256 ?? null, sha1: file?.sha1 ?? null };
  if (matches.length) return { path, verdict: matches.some((m) => SERIOUS.includes(m.severity)) ? 'malicious' : 'suspicious', reason: null, ...facts, matches, skipped };
  if (!file || skipped.length) {
    const first = skipped[0];
    const what = first ? `${first.path === path ? 'the file' : printable(first.path)}: ${skipReasonLabel(first.reason)} (${first.detail})` : 'the file was not read';
    const reason = skipped.length > 1 ? `${what}, and ${skipped.length - 1} more part${skipped.length === 2 ? '' : 's'} not scanned` : what;
    return { path, verdict: 'could-not-scan', reason: file ? `not scanned whole: ${reason}` : reason, ...facts, matches, skipped };
  }
  return { path, verdict: 'clean', reason: null, ...facts, matches, skipped };
}

function engineLines(e: AnalyzeResult['engines']): string[] {
  const packs = ['cordon-default', ...e.yara.packs.map((p) => `${p.name} v${p.version}`)].join(', ');
  const clam = 'unavailable' in e.clamav ? `did not run: ${e.clamav.unavailable}` : `${e.clamav.version} (${e.clamav.engine})${e.clamav.problem ? `: could not scan it: ${e.clamav.problem}` : ''}`;
  return [`YARA-X: ${e.yara.ruleCount} rules (${packs})`, `hash indicators: ${e.hashIndicators.count} file-hash indicators${e.hashIndicators.contentVersion === null ? '' : ` (version ${e.hashIndicators.contentVersion})`}`, `ClamAV: ${clam}`];
}

function render(r: AnalyzeResult): string {
  const rows: [string, string][] = [
    ['path', printable(r.path)],
    ['size', r.size === null ? 'not read' : `${r.size} bytes${r.size >= 1024 ? ` (${bytesText(r.size)})` : ''}`],
    ['sha256', r.sha256 ?? 'not read'],
    ['verdict', r.verdict + (r.reason ? `: ${printable(r.reason)}` : '')],
  ];
  for (const m of r.matches) {
    const what = m.engine === 'YARA' ? `rule ${printable(m.threat)} (pack ${printable(m.source)})` : m.engine === 'Indicator' ? `${printable(m.source)}: ${printable(m.threat)}` : `signature ${printable(m.threat)}`;
    rows.push(['match', `${m.engine}: ${what}, severity ${m.severity}${m.path !== r.path ? `, in ${printable(m.path)}` : ''}`]);
  }
  for (const s of r.skipped.slice(0, 10)) rows.push(['not scanned', `${printable(s.path)}: ${skipReasonLabel(s.reason)} (${printable(s.detail)})`]);
  for (const line of engineLines(r.engines)) rows.push(['engine', line]);
  for (const b of r.contentBehind) rows.push(['content', `${b.kind}/${b.name} is version ${b.have ?? 'none'} here, the server has ${b.version} (${printable(b.problem)}): judged with what this device has`]);
  rows.push(['note', 'analyze raises no alert and quarantines nothing']);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}\n`).join('');
}
