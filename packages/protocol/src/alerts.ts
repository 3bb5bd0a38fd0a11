import { isIP } from 'node:net';
import { z } from 'zod';
import { ALERT_SEVERITIES } from './alert-triage.js';

/**
 * What an alert says happened, in MDE's words: shared by the server (which stores alerts from other
 * tools) and the agent (whose detections become alerts), so both check evidence the same way.
 */
export type AlertSeverity = (typeof ALERT_SEVERITIES)[number];
export const AlertSeverity = z.enum(ALERT_SEVERITIES, { error: `must be one of ${ALERT_SEVERITIES.join(', ')}` });

/** 1 (Informational) to 4 (High); 0 is no severity (a device without open alerts). */
export function severityRank(severity: AlertSeverity): number {
  return ALERT_SEVERITIES.indexOf(severity) + 1;
}

const hex = (length: number, what: string) =>
  z
    .string()
    .regex(new RegExp(`^[0-9a-fA-F]{${length}}$`), `must be a ${what}: ${length} hexadecimal characters`)
    .transform((s) => s.toLowerCase());

/** A host name as DNS allows it (letters, digits, hyphens; dot-separated labels). */
const HOST_NAME = /^(?=.{1,253}$)(?!-)[A-Za-z0-9_-]{1,63}(?<!-)(\.(?!-)[A-Za-z0-9_-]{1,63}(?<!-))*\.?$/;

/** Text the stores can keep: PostgreSQL refuses NUL in text, so it is refused here, naming the field. */
export const noNul = <T extends z.ZodType<string, string>>(schema: T) => schema.refine((s) => !s.includes('\u0000'), 'must not contain NUL characters');

const text = (max: number) => noNul(z.string().max(max, `must be at most ${max} characters`));

/**
 * One piece of evidence: a file (path and hashes), a process (pid, command line, user) or a
 * network peer (IP, port, domain, URL), with MDE's field names where MDE has them.
 */
export const AlertEvidence = z.strictObject({
  entityType: z.enum(['File', 'Process', 'Ip', 'Url', 'User'], { error: 'must be one of File, Process, Ip, Url, User' }),
  filePath: text(4096).optional(),
  fileName: text(1024).optional(),
  sha1: hex(40, 'SHA-1').optional(),
  sha256: hex(64, 'SHA-256').optional(),
  md5: hex(32, 'MD5').optional(),
  processId: z.number().int().nonnegative().max(2 ** 32).optional(),
  processCommandLine: text(8192).optional(),
  processCreationTime: z.iso.datetime({ offset: true }).optional(),
  parentProcessId: z.number().int().nonnegative().max(2 ** 32).optional(),
  parentProcessFilePath: text(4096).optional(),
  accountName: text(256).optional(),
  ipAddress: z.string().refine((s) => isIP(s) !== 0, 'must be an IPv4 or IPv6 address').optional(),
  port: z.number().int().min(0).max(65535).optional(),
  domain: z.string().regex(HOST_NAME, 'must be a host name such as evil.example.com').optional(),
  url: z.url({ protocol: /^(https?|ftp)$/, error: 'must be an http, https or ftp URL' }).max(8192).optional(),
  detectionStatus: z.enum(['Detected', 'Blocked', 'Prevented']).optional(),
});
export type AlertEvidence = z.infer<typeof AlertEvidence>;

export const EVIDENCE_FIELDS = Object.keys(AlertEvidence.shape) as (keyof AlertEvidence)[];

/**
 * What an agent puts in a `detection` or `blockedExecution` event's data: the alert it raises.
 * The event's id makes a repeat recognisable, so an event re-sent after a reconnect is one alert.
 */
export const AgentDetection = z.strictObject({
  title: noNul(z.string().min(1).max(512)),
  severity: AlertSeverity,
  description: text(8192).optional(),
  category: text(128).optional(),
  /** What found it: `Antivirus`, `ExecutionControl`, `Indicator`, … */
  detectionSource: z.string().regex(/^[A-Za-z0-9 ._-]{1,64}$/).optional(),
  threatName: text(256).optional(),
  mitreTechniques: z.array(z.string().regex(/^T\d{4}(\.\d{3})?$/)).max(32).optional(),
  evidence: z.array(AlertEvidence).max(32).optional(),
});
export type AgentDetection = z.infer<typeof AgentDetection>;
