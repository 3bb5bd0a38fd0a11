import { describe, expect, it } from 'vitest';
import type { IsolationPlan } from '../types.js';
import { buildRuleset } from './nft-ruleset.js';
import { cgroupRef, cgroup2Mount } from './cgroups.js';
import { NftFirewall } from './firewall.js';
import { parseResolvConf } from './index.js';

const base: IsolationPlan = { servers: [{ address: '169.254.99.1', port: 8443 }], resolvers: [], agentUid: 0, destinations: [], cgroups: [] };
const chain = (text: string, name: string) => {
  const start = text.indexOf(`chain ${name} {`);
  return text.slice(start, text.indexOf('\n  }', start));
};

describe('buildRuleset', () => {
  it('replaces only the cordon table, atomically', () => {
    const text = buildRuleset(base);
    expect(text.split('\n').slice(0, 3)).toEqual(['table inet cordon {}', 'delete table inet cordon', 'table inet cordon {']);
    expect(text).not.toMatch(/flush ruleset|table (ip|ip6|inet) (?!cordon)/);
  });

  it('allows loopback and every server node both ways, each on its own port, then rejects everything else fast', () => {
    const text = buildRuleset({ ...base, servers: [{ address: '169.254.99.1', port: 8443 }, { address: 'fd00::1', port: 8443 }, { address: '169.254.99.4', port: 9443 }] });
    const out = chain(text, 'output');
    const inp = chain(text, 'input');
    expect(out).toContain('oif "lo" accept');
    // Only the agent talks to the server; the server may answer but never open a connection in.
    expect(out).toContain('ip daddr 169.254.99.1 tcp dport 8443 meta skuid 0 accept');
    expect(out).toContain('ip6 daddr fd00::1 tcp dport 8443 meta skuid 0 accept');
    expect(inp).toContain('ip saddr 169.254.99.1 tcp sport 8443 tcp flags & (syn | ack) != syn accept');
    expect(inp).toContain('ip6 saddr fd00::1 tcp sport 8443 tcp flags & (syn | ack) != syn accept');
    // A second node (the agent's failover) on its own port, and only there.
    expect(out).toContain('ip daddr 169.254.99.4 tcp dport 9443 meta skuid 0 accept');
    expect(inp).toContain('ip saddr 169.254.99.4 tcp sport 9443 tcp flags & (syn | ack) != syn accept');
    expect(out).not.toContain('ip daddr 169.254.99.4 tcp dport 8443');
    for (const c of [out, inp, chain(text, 'forward')]) {
      const lines = c.trim().split('\n').map((l) => l.trim());
      expect(lines.slice(-2)).toEqual(['meta l4proto tcp reject with tcp reset', 'reject with icmpx admin-prohibited']);
    }
    // The input chain's rejects answer through the output chain: their resets and ICMP errors go out
    // (else a blocked inbound connection times out instead of failing at once; e2e/isolation-rules.test.ts),
    // but only as answers conntrack saw: a reset or ICMP error the host makes up itself stays in.
    const answers = ['meta l4proto tcp tcp flags & rst == rst ct state related accept', 'meta l4proto { icmp, icmpv6 } ct state related accept'];
    expect(out.trim().split('\n').map((l) => l.trim()).slice(-4, -2)).toEqual(answers);
    expect(text).not.toMatch(/destination-unreachable accept|rst == rst accept/);
    // Without a selective policy nothing is let back in by conntrack: old connections are cut too.
    expect(answers.reduce((t, a) => t.replace(a, ''), text)).not.toMatch(/ct (state|mark)/);
    expect(buildRuleset({ ...base, agentUid: null })).toContain('ip daddr 169.254.99.1 tcp dport 8443 accept');
  });

  it('keeps DHCP, neighbour discovery and the resolvers (only port 53) open', () => {
    const text = buildRuleset({ ...base, resolvers: ['10.0.0.53'] });
    expect(chain(text, 'output')).toContain('udp sport 68 udp dport 67 accept');
    expect(chain(text, 'input')).toContain('udp sport 67 udp dport 68 accept');
    expect(chain(text, 'output')).toContain('ip daddr 10.0.0.53 meta l4proto { tcp, udp } th dport 53 meta skuid 0 accept');
    expect(chain(text, 'input')).toContain('ip saddr 10.0.0.53 meta l4proto { tcp, udp } th sport 53 ct state established accept');
    expect(text).toContain('nd-neighbor-solicit');
  });

  it('lets selective destinations answer (never open), and marks program/unit flows so their replies come back', async () => {
    const text = buildRuleset({
      ...base,
      destinations: [
        { family: 'ipv4', cidr: '10.0.0.0/8', port: null },
        { family: 'ipv6', cidr: '2001:db8::1', port: 443 },
      ],
      cgroups: [{ path: 'system.slice/system-openvpn\\x2dclient.slice/x.service', level: 3 }],
    });
    const out = chain(text, 'output');
    const inp = chain(text, 'input');
    expect(out).toContain('ip daddr 10.0.0.0/8 accept');
    expect(out).toContain('ip6 daddr 2001:db8::1 meta l4proto { tcp, udp } th dport 443 accept');
    expect(inp).toContain('ip saddr 10.0.0.0/8 ct state established,related accept');
    expect(inp).toContain('ip saddr 10.0.0.0/8 tcp flags & (syn | ack) != syn accept');
    expect(inp).toContain('ip6 saddr 2001:db8::1 meta l4proto { tcp, udp } th sport 443 ct state established,related accept');
    // systemd escapes '-' as \x2d in cgroup names: the backslash must reach nft untouched.
    expect(out).toContain('socket cgroupv2 level 3 "system.slice/system-openvpn\\x2dclient.slice/x.service" ct mark set ct mark or 0x00200000 accept');
    expect(inp).toContain('ct mark and 0x00200000 == 0x00200000 ct state established,related accept');
    expect(chain(text, 'forward')).not.toContain('accept\n');
  });

  it('cannot be broken out of by a cgroup path', () => {
    const text = buildRuleset({ ...base, cgroups: [{ path: 'a"; flush ruleset; "\nb', level: 1 }] });
    expect(text).toContain('socket cgroupv2 level 1 "a; flush ruleset; b"');
  });
});

describe('cgroups and resolvers', () => {
  it('finds the cgroup v2 mount on unified and hybrid systems, and names cgroups as nft does', async () => {
    const hybrid = '35 25 0:30 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw\n36 25 0:31 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu';
    expect(await cgroup2Mount(hybrid)).toBe('/sys/fs/cgroup/unified');
    expect(await cgroup2Mount('30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw')).toBe('/sys/fs/cgroup');
    expect(await cgroup2Mount('30 1 0:26 / /proc rw - proc proc rw')).toBeNull();
    expect(cgroupRef('/sys/fs/cgroup', '/system.slice/sshd.service')).toEqual({ path: 'system.slice/sshd.service', level: 2 });
    expect(cgroupRef('/sys/fs/cgroup/unified', '/system.slice/sshd.service')).toEqual({ path: 'unified/system.slice/sshd.service', level: 2 });
    expect(cgroupRef('/mnt/cg', '/x')).toBeNull();
  });

  it('reads name servers from resolv.conf', () => {
    expect(parseResolvConf('# c\nnameserver 10.0.0.53\nsearch x\n nameserver fe80::1%eth0\n')).toEqual(['10.0.0.53', 'fe80::1']);
  });
});

describe('NftFirewall', () => {
  it('says what is missing when nft is not installed', async () => {
    expect(await new NftFirewall('/nonexistent/nft').check()).toEqual({ ok: false, reason: 'nft is not installed (install the nftables package)' });
    await expect(new NftFirewall('/nonexistent/nft').apply({ servers: [], resolvers: [], agentUid: 0, destinations: [], cgroups: [] })).rejects.toThrow('nft is not installed');
  });
});
