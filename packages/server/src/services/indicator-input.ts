import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { z } from 'zod';
import { BLOCKING_INDICATOR_ACTIONS, INDICATOR_ACTIONS, INDICATOR_SEVERITIES, INDICATOR_TYPES, type IndicatorAction, type IndicatorType } from '@cordon/protocol';

/** A value of `values` whatever its case ('block' is Block), so the enum check names the choices. */
const oneOf = <T extends readonly [string, ...string[]]>(values: T, extra = '') =>
  z.preprocess(
    (v) => (typeof v === 'string' ? (values.find((x) => x.toLowerCase() === v.trim().toLowerCase()) ?? v) : v),
    z.enum(values, { error: (i) => (i.input === undefined ? `is required: one of ${values.join(', ')}` : `must be one of ${values.join(', ')}${extra}`) }),
  );

const text = (max: number) => z.string({ error: 'must be text' }).max(max, `must be at most ${max} characters`);

/** A list given as a JSON array or, as MDE documents rbacGroupNames, as comma-separated text. */
const list = z.preprocess(
  (v) => (typeof v === 'string' ? v.split(',').map((s) => s.trim()).filter(Boolean) : v),
  z.array(text(256), { error: 'must be a list of names (or comma-separated text)' }).max(64, 'may hold at most 64 names'),
);

/**
 * An indicator as POST /api/indicators and each item of an import take it: MDE's request fields
 * (camelCase here; the API also takes them PascalCase), plus the CSV import's Category and
 * MitreTechniques. Each value is then checked against its type (`indicatorValueOf`).
 */
export const IndicatorInput = z
  .strictObject({
    indicatorValue: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be text') }).trim().min(1, 'must not be empty').max(2048, 'must be at most 2048 characters'),
    indicatorType: oneOf(INDICATOR_TYPES, ' (CertificateThumbprint is not supported on Linux)'),
    action: oneOf(INDICATOR_ACTIONS),
    title: z.string({ error: (i) => (i.input === undefined ? 'is required' : 'must be text') }).trim().min(1, 'must not be empty').max(512, 'must be at most 512 characters'),
    description: text(8000).nullish(),
    severity: oneOf(INDICATOR_SEVERITIES).nullish(),
    expirationTime: z.iso.datetime({ offset: true, error: 'must be a date and time such as 2026-12-31T00:00:00Z' }).nullish(),
    recommendedActions: text(8000).nullish(),
    generateAlert: z.preprocess((v) => (v === 'true' || v === 'True' ? true : v === 'false' || v === 'False' ? false : v), z.boolean({ error: 'must be true or false' })).nullish(),
    rbacGroupNames: list.nullish(),
    application: text(256).nullish(),
    educateUrl: text(2048).nullish(),
    category: text(256).nullish(),
    mitreTechniques: list.nullish(),
  })
  .meta({ id: 'IndicatorSubmission' });
export type IndicatorInput = z.infer<typeof IndicatorInput>;

/** Hash types and their length in hex digits. */
const HASH_LENGTHS: Partial<Record<IndicatorType, number>> = { FileSha256: 64, FileSha1: 40, FileMd5: 32 };

/**
 * The value as stored for `type`, or why it is not one: hashes are hex of their length (lower
 * case), an IP address is one IPv4 or IPv6 address (not a range, and not one the device needs for
 * itself: loopback, unspecified, broadcast), a domain a host name (lower case, punycode), a URL
 * an http(s) URL.
 */
export function indicatorValueOf(type: IndicatorType, raw: string): { value: string } | { error: string } {
  const v = raw.trim();
  const hexLength = HASH_LENGTHS[type];
  if (hexLength !== undefined) {
    return new RegExp(`^[0-9a-fA-F]{${hexLength}}$`).test(v) ? { value: v.toLowerCase() } : { error: `is not a ${type.slice(4).toUpperCase()} hash: give ${hexLength} hexadecimal characters` };
  }
  switch (type) {
    case 'IpAddress':
      return ipAddress(v);
    case 'DomainName':
      return domainName(v);
    case 'Url':
      return url(v);
    default:
      return { error: `is not a value of type ${type}` };
  }
}

function ipAddress(v: string): { value: string } | { error: string } {
  if (v.includes('/')) return { error: 'is a range: CIDR notation is not supported (as in MDE); give one address' };
  if (v.includes('%')) return { error: 'has a zone index (%…): give the address alone' };
  const family = isIP(v);
  if (family === 0) return { error: 'is not an IPv4 or IPv6 address (e.g. 203.0.113.7 or 2001:db8::7)' };
  // IPv6 in its one canonical spelling (lower case, zeros compressed), so a value is one indicator however written.
  const value = family === 6 ? new URL(`http://[${v}]`).hostname.slice(1, -1) : v;
  const v4 = family === 4 ? value : /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(value)?.[1];
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(value);
  const ipv4 = v4 ?? (mapped ? [parseInt(mapped[1]!, 16) >> 8, parseInt(mapped[1]!, 16) & 255, parseInt(mapped[2]!, 16) >> 8, parseInt(mapped[2]!, 16) & 255].join('.') : undefined);
  // Blocking these would cut the device off itself (its loopback) or mean "every address".
  if (ipv4 !== undefined && (ipv4.startsWith('127.') || ipv4 === '0.0.0.0' || ipv4 === '255.255.255.255')) {
    return { error: `is ${ipv4.startsWith('127.') ? 'a loopback' : ipv4 === '0.0.0.0' ? 'the unspecified' : 'the broadcast'} address, which every device needs for itself: it cannot be an indicator` };
  }
  if (value === '::1' || value === '::') return { error: `is ${value === '::1' ? 'the loopback' : 'the unspecified'} address, which every device needs for itself: it cannot be an indicator` };
  return { value };
}

function domainName(v: string): { value: string } | { error: string } {
  const name = v.replace(/\.$/, '');
  if (/[/:@]/.test(name)) return { error: 'is not a domain name: give the host name alone (e.g. malware.example.com); use the Url type for URLs' };
  if (isIP(name)) return { error: 'is an IP address: use the IpAddress type' };
  const ascii = domainToASCII(name).toLowerCase();
  const labels = ascii.split('.');
  const valid =
    ascii.length > 0 &&
    ascii.length <= 253 &&
    labels.length >= 2 &&
    labels.every((l) => /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/.test(l)) &&
    !/^\d+$/.test(labels.at(-1)!);
  return valid ? { value: ascii } : { error: 'is not a domain name such as malware.example.com (letters, digits and hyphens in dot-separated labels)' };
}

function url(v: string): { value: string } | { error: string } {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return { error: 'is not a URL such as http://malware.example.com/payload' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { error: `is a ${u.protocol.replace(/:$/, '')} URL: give an http or https URL` };
  if (!u.hostname) return { error: 'has no host name' };
  return { value: v };
}

export type Enforcement = 'Block' | 'AlertOnly' | 'None';

/**
 * What Linux agents do with an indicator of `type` and `action`, and why, as the API and the
 * README say it: only IP addresses can be blocked on Linux (an nftables table of their own);
 * connections to an alerting IP, or to the addresses a domain or URL resolves to on the device,
 * are reported; file hashes are not acted on by agents yet (antivirus scans will report them).
 */
export function enforcementOf(type: IndicatorType, action: IndicatorAction): { enforcement: Enforcement; enforcementNote: string } {
  if (action === 'Allowed') return { enforcement: 'None', enforcementNote: 'Allowed: Linux agents never block it or raise alerts on it' };
  const names = type === 'Url' ? 'URLs' : 'domain names';
  const seen =
    type === 'IpAddress'
      ? 'connections to it are reported'
      : type === 'DomainName' || type === 'Url'
        ? 'connections to the addresses its name resolves to on the device are reported'
        : 'Linux agents do not act on file hashes yet (antivirus scans will report matching files)';
  if (BLOCKING_INDICATOR_ACTIONS.includes(action)) {
    if (type === 'IpAddress') return { enforcement: 'Block', enforcementNote: 'Linux agents block connections to and from this address (an nftables table of their own), and report attempts when generateAlert is true' };
    if (type === 'DomainName' || type === 'Url') return { enforcement: 'AlertOnly', enforcementNote: `Alert only on Linux: agents cannot block ${names} (nftables sees addresses, not names); ${seen}, never blocked. Block its IP addresses with IpAddress indicators` };
    return { enforcement: 'AlertOnly', enforcementNote: `Alert only on Linux: agents do not block files by hash; ${seen}` };
  }
  if (action === 'Warn') return { enforcement: 'AlertOnly', enforcementNote: `Alert only on Linux: agents cannot show a warning; ${seen}, never blocked` };
  return { enforcement: 'AlertOnly', enforcementNote: `${action}: ${seen}, never blocked` };
}
