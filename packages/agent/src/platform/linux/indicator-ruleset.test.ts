import { describe, expect, it } from 'vitest';
import { buildIndicatorRuleset, INDICATOR_TABLE, parseIndicatorCounts } from './indicator-ruleset.js';

describe('indicator rule set', () => {
  it('replaces its own table only, with a counted set per family and kind', () => {
    const text = buildIndicatorRuleset({ blocked: ['203.0.113.7', '2001:db8::7'], watched: ['198.51.100.9'] });
    expect(text.split('\n').slice(0, 3)).toEqual([`table inet ${INDICATOR_TABLE} {}`, `delete table inet ${INDICATOR_TABLE}`, `table inet ${INDICATOR_TABLE} {`]);
    expect(text).not.toMatch(/table inet cordon \{/);
    expect(text).toContain('set blocked4 { type ipv4_addr; counter; elements = { 203.0.113.7 } }');
    expect(text).toContain('set blocked6 { type ipv6_addr; counter; elements = { 2001:db8::7 } }');
    expect(text).toContain('set watched4 { type ipv4_addr; counter; elements = { 198.51.100.9 } }');
    // An empty set has no elements clause (nft refuses `elements = { }`).
    expect(text).toContain('set watched6 { type ipv6_addr; counter; }');
    // Refused at once going out (each packet looked up once), dropped coming in, both when forwarded.
    expect(text).toMatch(/chain output \{\n.*policy accept;\n\s+meta l4proto tcp ip daddr @blocked4 reject with tcp reset\n\s+ip daddr @blocked4 reject with icmpx admin-prohibited/);
    expect(text).toMatch(/chain input \{\n.*\n\s+meta l4proto tcp tcp flags & rst == rst accept\n\s+ip saddr @blocked4 drop\n\s+ip6 saddr @blocked6 drop\n\s+\}/);
    expect(text).toContain('ct state new ip daddr @watched4 accept');
    expect(text).toMatch(/chain forward \{[^}]*ip daddr @blocked4 reject[^}]*ip saddr @blocked4 drop/);
  });

  it('reads the packets each address matched from nft -j', () => {
    const json = JSON.stringify({
      nftables: [
        { metainfo: { version: '1.0.6' } },
        { table: { family: 'inet', name: INDICATOR_TABLE } },
        { set: { name: 'blocked4', elem: [{ elem: { val: '203.0.113.7', counter: { packets: 4, bytes: 200 } } }, { elem: { val: '198.51.100.1', counter: { packets: 0, bytes: 0 } } }] } },
        { set: { name: 'blocked6' } },
        { set: { name: 'watched6', elem: [{ elem: { val: '2001:db8::9', counter: { packets: 2, bytes: 80 } } }] } },
        { chain: { name: 'output' } },
      ],
    });
    expect([...parseIndicatorCounts(json)]).toEqual([
      ['203.0.113.7', 4],
      ['198.51.100.1', 0],
      ['2001:db8::9', 2],
    ]);
  });
});
