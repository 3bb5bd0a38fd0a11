import { isIP } from 'node:net';
import { basename } from 'node:path';
import { z } from 'zod';
import { AlertEvidence, AlertSeverity } from '@cordon/protocol';
import { contentKey, type IncomingAlert } from './alerts.service.js';

/**
 * The alerts other tools send, checked and turned into what the queue stores: Cordon's own body
 * (`POST /api/alerts`) and Falco's JSON output (`POST /api/alerts/falco`).
 */

/** Largest alert body accepted (413 above it): an alert is a notice with evidence, not a file. */
export const MAX_ALERT_BODY_BYTES = 256 * 1024;
/** A forwarder's batch (Fluent Bit's or Vector's HTTP output): up to this many alerts, this many bytes. */
export const MAX_ALERT_BATCH = 500;
export const MAX_ALERT_BATCH_BYTES = 4 * 1024 * 1024;

const printable = (max: number) => z.string().max(max, `must be at most ${max} characters`);
const time = z.iso.datetime({ offset: true, error: 'must be a time such as 2026-11-22T10:00:00Z' }).transform((s) => new Date(s).toISOString());
/** A host name as a tool reports it: no spaces or control characters. */
const hostName = z.string().trim().min(1).max(255).regex(/^[^\s\p{Cc}]+$/u, 'must be a host name such as web-01 or web-01.example.com');

/** Cordon's ingest body: the device by id or by host name, what happened, and its evidence. */
export const GenericAlertBody = z
  .strictObject({
    machineId: z.string().regex(/^[0-9a-f]{40}$/, 'must be a machine id: 40 lowercase hexadecimal characters').optional(),
    computerDnsName: hostName.optional(),
    title: printable(512).trim().min(1, 'must not be empty'),
    description: printable(16_384).optional(),
    severity: AlertSeverity,
    category: printable(128).optional(),
    detectionSource: z.string().trim().min(1).max(64).regex(/^[A-Za-z0-9 ._-]+$/, 'must be letters, digits, spaces, dots, dashes or underscores').optional(),
    threatName: printable(256).optional(),
    mitreTechniques: z.array(z.string().regex(/^T\d{4}(\.\d{3})?$/, 'must be MITRE technique ids such as T1059 or T1059.004')).max(32).optional(),
    firstEventTime: time.optional(),
    lastEventTime: time.optional(),
    /** The sender's id for the event: the same id sent again is counted on the same alert. */
    sourceEventId: z.string().min(1).max(256).optional(),
    evidence: z.array(AlertEvidence).max(100).optional(),
  })
  .refine((b) => b.machineId !== undefined || b.computerDnsName !== undefined, { message: 'name the device: send machineId or computerDnsName', path: ['machineId'] });
export type GenericAlertBody = z.infer<typeof GenericAlertBody>;

export const GenericAlertBatch = z.strictObject({ value: z.array(GenericAlertBody).min(1, 'send at least one alert').max(MAX_ALERT_BATCH, `send at most ${MAX_ALERT_BATCH} alerts a request`) });

export function fromGenericBody(b: GenericAlertBody, now: Date): IncomingAlert {
  const first = b.firstEventTime ?? b.lastEventTime ?? now.toISOString();
  const last = b.lastEventTime ?? first;
  const source = b.detectionSource ?? 'Custom';
  const device = b.machineId ?? b.computerDnsName!.toLowerCase();
  return {
    machineId: b.machineId ?? null,
    hostName: b.machineId ? null : b.computerDnsName!,
    title: b.title,
    description: b.description ?? null,
    severity: b.severity,
    category: b.category ?? null,
    detectionSource: source,
    threatName: b.threatName ?? null,
    mitreTechniques: b.mitreTechniques ?? [],
    evidence: b.evidence ?? [],
    firstEventTime: first < last ? first : last,
    lastEventTime: first < last ? last : first,
    // Without the sender's event id, the same content about the same moment is the same event.
    sourceKey: b.sourceEventId
      ? `${source}:${device}:${b.sourceEventId}`
      : contentKey(source, [device, b.title, b.description ?? null, b.severity, b.category ?? null, b.firstEventTime ?? null, b.lastEventTime ?? null, b.evidence ?? []]),
  };
}

// --- Falco ---------------------------------------------------------------------------------

const FALCO_PRIORITIES: Record<string, AlertSeverity> = {
  emergency: 'High',
  alert: 'High',
  critical: 'High',
  error: 'High',
  warning: 'Medium',
  notice: 'Low',
  informational: 'Informational',
  info: 'Informational',
  debug: 'Informational',
};

/**
 * Falco's alert with `json_output: true`, as its `http_output` posts it. Fields Falco adds in
 * later versions are accepted and ignored; `output_fields` holds whatever the rule printed.
 */
export const FalcoAlertBody = z.looseObject({
  output: z.string().max(65_536),
  priority: z.string().refine((p) => p.toLowerCase() in FALCO_PRIORITIES, { message: `must be a Falco priority: ${Object.keys(FALCO_PRIORITIES).join(', ')}` }),
  rule: z.string().trim().min(1).max(512),
  time,
  hostname: hostName,
  source: z.string().max(64).optional(),
  tags: z.array(z.string().max(128)).max(64).optional(),
  uuid: z.string().max(64).optional(),
  output_fields: z.record(z.string().max(256), z.unknown()).optional(),
});
export type FalcoAlertBody = z.infer<typeof FalcoAlertBody>;

/** `mitre_credential_access` → `CredentialAccess`: the MITRE tactic Falco's rule is tagged with, as MDE names categories. */
function categoryOf(tags: string[]): string | null {
  const tactic = tags.find((t) => /^mitre_[a-z_]+$/.test(t));
  if (!tactic) return null;
  return tactic
    .slice('mitre_'.length)
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('');
}

/** Falco alert → stored alert: the rule is the title, its output the description, and the fields it printed become evidence. */
export function fromFalco(f: FalcoAlertBody): IncomingAlert {
  const tags = f.tags ?? [];
  const fields = f.output_fields ?? {};
  const str = (k: string): string | undefined => (typeof fields[k] === 'string' && fields[k] !== '' && fields[k] !== '<NA>' ? (fields[k] as string) : undefined);
  const int = (k: string): number | undefined => {
    const v = typeof fields[k] === 'string' ? Number(fields[k]) : fields[k];
    return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 2 ** 32 ? v : undefined;
  };
  return {
    machineId: null,
    hostName: f.hostname,
    title: f.rule,
    description: f.output,
    severity: FALCO_PRIORITIES[f.priority.toLowerCase()]!,
    category: categoryOf(tags),
    detectionSource: 'Falco',
    threatName: null,
    mitreTechniques: tags.filter((t) => /^T\d{4}(\.\d{3})?$/.test(t)),
    evidence: falcoEvidence(str, int),
    firstEventTime: f.time,
    lastEventTime: f.time,
    sourceKey: f.uuid ? `Falco:${f.uuid}` : contentKey('Falco', [f.hostname.toLowerCase(), f.rule, f.time, f.output]),
  };
}

/** Evidence from the fields a Falco rule printed; a value that is not what it claims to be is left out, never refused. */
function falcoEvidence(str: (k: string) => string | undefined, int: (k: string) => number | undefined): AlertEvidence[] {
  const keep = (e: Record<string, unknown>): AlertEvidence | null => {
    const clean = Object.fromEntries(Object.entries(e).filter(([k, v]) => v !== undefined && AlertEvidence.shape[k as keyof AlertEvidence]?.safeParse(v).success));
    const parsed = AlertEvidence.safeParse(clean);
    return parsed.success && Object.keys(parsed.data).length > 1 ? parsed.data : null;
  };
  const out: (AlertEvidence | null)[] = [];
  const exe = str('proc.exepath') ?? str('proc.exe');
  out.push(
    keep({
      entityType: 'Process',
      processId: int('proc.pid'),
      processCommandLine: str('proc.cmdline'),
      fileName: str('proc.name'),
      filePath: exe?.startsWith('/') ? exe : undefined,
      accountName: str('user.name'),
      parentProcessId: int('proc.ppid'),
    }),
  );
  const path = [str('fd.name'), str('fs.path.name'), str('evt.arg.filename'), str('evt.arg.pathname')].find((p) => p?.startsWith('/'));
  if (path && (str('fd.type') ?? 'file') === 'file') out.push(keep({ entityType: 'File', filePath: path, fileName: basename(path) }));
  const ip = [str('fd.rip'), str('fd.sip')].find((a) => a !== undefined && isIP(a) !== 0);
  if (ip) out.push(keep({ entityType: 'Ip', ipAddress: ip, port: int(ip === str('fd.rip') ? 'fd.rport' : 'fd.sport') }));
  return out.filter((e): e is AlertEvidence => e !== null);
}
