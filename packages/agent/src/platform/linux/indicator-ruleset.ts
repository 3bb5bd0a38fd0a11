/*
 * The nftables table of indicator enforcement, as text for `nft -f`, and the reading of its
 * counters. Pure (no I/O), so both are unit-tested; indicator-firewall.ts writes and runs.
 */
import { isIPv6 } from 'node:net';
import type { IndicatorRules } from '../types.js';

/** Indicators' own table: isolation's (`cordon`) and this one are applied and removed apart. */
export const INDICATOR_TABLE = 'cordon_indicators';

const SETS = { blocked: { ip: 'blocked4', ip6: 'blocked6' }, watched: { ip: 'watched4', ip6: 'watched6' } } as const;

/** A named set with a counter per element: how many packets each address matched. */
function set(name: string, family: 'ip' | 'ip6', addresses: string[]): string {
  const elements = addresses.length ? ` elements = { ${addresses.join(', ')} }` : '';
  return `  set ${name} { type ${family === 'ip' ? 'ipv4_addr' : 'ipv6_addr'}; counter;${elements} }`;
}

/**
 * Replaces the table in one transaction. Blocked addresses: outbound and forwarded packets to
 * them are refused at once (TCP reset, else ICMP admin-prohibited), packets from them dropped
 * (but for TCP resets, among them the ones the refusals send back).
 * Watched addresses: new connections to them are counted and let through. The protocol is
 * tested before the set is looked up, so each refused packet counts once on its address.
 */
export function buildIndicatorRuleset(rules: IndicatorRules): string {
  const by = (list: string[]) => ({ ip: list.filter((a) => !isIPv6(a)), ip6: list.filter((a) => isIPv6(a)) });
  const blocked = by(rules.blocked);
  const watched = by(rules.watched);
  const refuse = (dir: 'daddr' | 'saddr') =>
    (['ip', 'ip6'] as const).flatMap((f) =>
      dir === 'daddr'
        ? [`meta l4proto tcp ${f} daddr @${SETS.blocked[f]} reject with tcp reset`, `${f} daddr @${SETS.blocked[f]} reject with icmpx admin-prohibited`]
        : [`${f} saddr @${SETS.blocked[f]} drop`],
    );
  const watch = (['ip', 'ip6'] as const).map((f) => `ct state new ${f} daddr @${SETS.watched[f]} accept`);
  const chain = (name: string, hook: string, lines: string[]) =>
    [`  chain ${name} {`, `    type filter hook ${hook} priority filter - 5; policy accept;`, ...lines.map((l) => `    ${l}`), '  }'].join('\n');
  return [
    `table inet ${INDICATOR_TABLE} {}`,
    `delete table inet ${INDICATOR_TABLE}`,
    `table inet ${INDICATOR_TABLE} {`,
    set(SETS.blocked.ip, 'ip', blocked.ip),
    set(SETS.blocked.ip6, 'ip6', blocked.ip6),
    set(SETS.watched.ip, 'ip', watched.ip),
    set(SETS.watched.ip6, 'ip6', watched.ip6),
    chain('output', 'output', [...refuse('daddr'), ...watch]),
    // The reset a refused connection gets comes in from the blocked address (as if it answered):
    // let resets past this table's own drop, or the connection would hang instead of failing.
    // Looked at before any set, so it counts nothing; it carries no data.
    chain('input', 'input', ['meta l4proto tcp tcp flags & rst == rst accept', ...refuse('saddr')]),
    // Containers and VMs on the device must not reach a blocked address either.
    chain('forward', 'forward', [...refuse('daddr'), ...refuse('saddr')]),
    '}',
    '',
  ].join('\n');
}

/** The packets each address matched, from `nft -j list table inet cordon_indicators`. */
export function parseIndicatorCounts(json: string): Map<string, number> {
  const out = new Map<string, number>();
  const doc = JSON.parse(json) as { nftables?: { set?: { elem?: unknown[] } }[] };
  for (const item of doc.nftables ?? []) {
    for (const e of item.set?.elem ?? []) {
      const elem = (e as { elem?: { val?: unknown; counter?: { packets?: unknown } } }).elem;
      if (typeof elem?.val !== 'string') continue;
      const packets = Number(elem.counter?.packets ?? 0);
      out.set(elem.val, (out.get(elem.val) ?? 0) + (Number.isFinite(packets) ? packets : 0));
    }
  }
  return out;
}
