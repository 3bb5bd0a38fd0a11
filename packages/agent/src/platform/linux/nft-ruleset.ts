/*
 * The nftables rule set of an isolated device, as text for `nft -f`. Pure (no I/O), so every
 * shape of plan is unit-tested; the firewall module only writes it to a file and runs nft.
 */

import type { IsolationPlan } from '../types.js';

/** The table Cordon owns; releasing isolation deletes exactly this and nothing else. */
export const CORDON_TABLE = 'cordon';

/** Conntrack mark bit (one bit: other tools own the rest of the mark) of flows a selective program or unit opened, so their replies come back in. */
export const ALLOWED_FLOW_BIT = '0x00200000';

const familyOf = (address: string): 'ip' | 'ip6' => (address.includes(':') ? 'ip6' : 'ip');
/** nft quoted strings take no escapes: only a quote or a control character could break out. */
const quote = (s: string): string => `"${s.replace(/["\p{Cc}]/gu, '')}"`;
/**
 * What a reject sends back: a TCP reset, or ICMP/ICMPv6 destination-unreachable. Only as answers
 * to a packet conntrack saw (`related`): an isolated host must not be able to send resets or ICMP
 * errors of its own making anywhere — their headers would be a covert channel out.
 */
const REJECT_ANSWERS = ['meta l4proto tcp tcp flags & rst == rst ct state related accept', 'meta l4proto { icmp, icmpv6 } ct state related accept'];
/** Inbound TCP that is not a connection attempt: replies and established traffic, never a new SYN. */
const NOT_A_NEW_CONNECTION = 'tcp flags & (syn | ack) != syn';

/**
 * Builds the rule set. It replaces the table in one transaction (create, delete, create: the
 * first line makes the delete valid when no table exists), so the device is never half-isolated.
 * Order per chain: loopback, the server nodes, DNS, DHCP/ND, the selective allowances, then reject —
 * TCP with a reset and everything else with admin-prohibited, so blocked connections fail at once.
 * Inbound, allowed peers may answer but never open a connection to the device (a spoofed server
 * address gains nothing); the server's replies are matched without conntrack, so the agent's open
 * channel survives the switch. No blanket "established" rule: other connections are cut.
 */
export function buildRuleset(plan: IsolationPlan): string {
  const input: string[] = ['iif "lo" accept'];
  const output: string[] = ['oif "lo" accept'];
  const owner = plan.agentUid === null ? '' : ` meta skuid ${plan.agentUid}`;
  for (const { address, port } of plan.servers) {
    const f = familyOf(address);
    output.push(`${f} daddr ${address} tcp dport ${port}${owner} accept`);
    input.push(`${f} saddr ${address} tcp sport ${port} ${NOT_A_NEW_CONNECTION} accept`);
  }
  for (const r of plan.resolvers) {
    const f = familyOf(r);
    output.push(`${f} daddr ${r} meta l4proto { tcp, udp } th dport 53${owner} accept`);
    input.push(`${f} saddr ${r} meta l4proto { tcp, udp } th sport 53 ct state established accept`);
  }
  // DHCP keeps the lease (and so the server route) alive; ND is IPv6's ARP.
  output.push('udp sport 68 udp dport 67 accept', 'udp sport 546 udp dport 547 accept');
  input.push('udp sport 67 udp dport 68 accept', 'udp sport 547 udp dport 546 accept');
  const nd = 'icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit, nd-router-advert } accept';
  output.push(nd);
  input.push(nd);
  for (const d of plan.destinations) {
    const f = d.family === 'ipv6' ? 'ip6' : 'ip';
    const port = (dir: 'sport' | 'dport') => (d.port === null ? '' : ` meta l4proto { tcp, udp } th ${dir} ${d.port}`);
    output.push(`${f} daddr ${d.cidr}${port('dport')} accept`);
    input.push(`${f} saddr ${d.cidr}${port('sport')} ct state established,related accept`);
    input.push(`${f} saddr ${d.cidr}${d.port === null ? '' : ` tcp sport ${d.port}`} ${NOT_A_NEW_CONNECTION} accept`);
  }
  for (const c of plan.cgroups) output.push(`socket cgroupv2 level ${c.level} ${quote(c.path)} ct mark set ct mark or ${ALLOWED_FLOW_BIT} accept`);
  if (plan.cgroups.length > 0) input.push(`ct mark and ${ALLOWED_FLOW_BIT} == ${ALLOWED_FLOW_BIT} ct state established,related accept`);
  // The answers of the input chain's rejects (a reset, an ICMP error) leave through the output
  // chain: without these they were rejected in turn — silently dropped — and a blocked inbound
  // connection hung until it timed out instead of failing at once. They carry no data.
  output.push(...REJECT_ANSWERS);
  const reject = ['meta l4proto tcp reject with tcp reset', 'reject with icmpx admin-prohibited'];
  const chain = (name: string, hook: string, rules: string[]) =>
    [`  chain ${name} {`, `    type filter hook ${hook} priority filter - 10; policy accept;`, ...rules.map((r) => `    ${r}`), '  }'].join('\n');
  return [
    `table inet ${CORDON_TABLE} {}`,
    `delete table inet ${CORDON_TABLE}`,
    `table inet ${CORDON_TABLE} {`,
    chain('input', 'input', [...input, ...reject]),
    chain('output', 'output', [...output, ...reject]),
    // A device that routes (containers, VMs, a gateway) must not pass traffic for others either.
    chain('forward', 'forward', reject),
    '}',
    '',
  ].join('\n');
}
