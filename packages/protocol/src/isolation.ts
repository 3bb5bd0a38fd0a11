import { z } from 'zod';

/*
 * Selective isolation: what stays reachable while a device is isolated. One entry says one thing:
 * a destination (IP, CIDR, host:port or domain), a local program (absolute path), or a systemd unit.
 * Entries are checked here, once, for the API, the server and the agent alike, so a malformed entry
 * is refused when the policy is saved and never reaches a firewall.
 */

export type Destination =
  | { kind: 'address'; family: 'ipv4' | 'ipv6'; cidr: string; port: number | null }
  | { kind: 'domain'; name: string; port: number | null };

const ipv4 = z.ipv4();
const ipv6 = z.ipv6();
const cidrv4 = z.cidrv4();
const cidrv6 = z.cidrv6();
const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

function port(text: string | undefined): number | null | undefined {
  if (text === undefined) return null;
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

function hostname(text: string): string | null {
  const name = text.toLowerCase().replace(/\.$/, '');
  if (name.length === 0 || name.length > 253) return null;
  const labels = name.split('.');
  if (!labels.every((l) => LABEL.test(l))) return null;
  // An all-digit last label is a mistyped address (10.1.2.300), never a domain.
  return /^\d+$/.test(labels[labels.length - 1]!) ? null : name;
}

/**
 * Reads `10.0.0.0/8`, `10.1.2.3`, `10.1.2.3:443`, `2001:db8::/32`, `[2001:db8::1]:443`,
 * `updates.example.com` or `updates.example.com:443`; null when it is none of these.
 */
export function parseDestination(text: string): Destination | null {
  const s = text.trim();
  const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
  if (bracketed) {
    const p = port(bracketed[2]);
    return ipv6.safeParse(bracketed[1]).success && p !== undefined ? { kind: 'address', family: 'ipv6', cidr: bracketed[1]!.toLowerCase(), port: p } : null;
  }
  if (ipv6.safeParse(s).success) return { kind: 'address', family: 'ipv6', cidr: s.toLowerCase(), port: null };
  if (cidrv6.safeParse(s).success) return { kind: 'address', family: 'ipv6', cidr: s.toLowerCase(), port: null };
  if (cidrv4.safeParse(s).success) return { kind: 'address', family: 'ipv4', cidr: s, port: null };
  const [host, portText, ...rest] = s.split(':');
  if (rest.length > 0 || host === undefined) return null;
  const p = port(portText);
  if (p === undefined) return null;
  if (ipv4.safeParse(host).success) return { kind: 'address', family: 'ipv4', cidr: host, port: p };
  const name = hostname(host);
  return name ? { kind: 'domain', name, port: p } : null;
}

/** One entry of a selective-isolation allow list. */
export const AllowEntry = z.union([
  z.strictObject({
    destination: z
      .string()
      .max(300)
      .refine((d) => parseDestination(d) !== null, { message: 'a destination is an IP address, a CIDR range, host:port or a domain (e.g. 10.0.0.0/8, 10.1.2.3:443, [2001:db8::1]:443, updates.example.com:443)' }),
    description: z.string().max(200).optional(),
  }),
  z.strictObject({
    program: z
      .string()
      .max(4096)
      .regex(/^\/[^\0]*$/, { message: 'a program is the absolute path of its executable (e.g. /usr/bin/ssh)' })
      .refine((p) => !p.split('/').includes('..'), { message: 'a program path may not contain ..' }),
    description: z.string().max(200).optional(),
  }),
  z.strictObject({
    unit: z.string().regex(/^[A-Za-z0-9:_.\\@-]{1,250}\.(service|scope|slice)$/, { message: 'a unit is a systemd service, scope or slice name (e.g. sshd.service)' }),
    description: z.string().max(200).optional(),
  }),
]);
export type AllowEntry = z.infer<typeof AllowEntry>;

export const AllowList = z.array(AllowEntry).max(256);

/** What the agent reports about its isolation (the truth the server shows once no action is in flight). */
export const IsolationReport = z.strictObject({
  state: z.enum(['Isolated', 'NotIsolated']),
  type: z.enum(['Full', 'Selective']).nullable(),
  since: z.iso.datetime().nullable(),
  /** How the last release happened: by an action, or on the device with a break-glass token. */
  releasedBy: z.enum(['action', 'breakGlass']).nullable(),
});
export type IsolationReport = z.infer<typeof IsolationReport>;

/** What an offline release ("break-glass") token grants: releasing one device, once, until it expires. */
export const ReleaseTokenClaims = z.strictObject({
  purpose: z.literal('release-isolation'),
  tokenId: z.uuid(),
  machineId: z.string().regex(/^[0-9a-f]{40}$/),
  issuedBy: z.string().max(256),
  issuedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  /**
   * When set, the token releases only the isolation that began at this time (the one in force
   * when it was issued); a later isolation of the same device needs a new token.
   */
  isolatedSince: z.iso.datetime().nullable().optional(),
});
export type ReleaseTokenClaims = z.infer<typeof ReleaseTokenClaims>;
