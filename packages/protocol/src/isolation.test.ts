import { describe, expect, it } from 'vitest';
import { AllowEntry, parseDestination } from './isolation.js';

describe('parseDestination', () => {
  it.each([
    ['10.0.0.0/8', { kind: 'address', family: 'ipv4', cidr: '10.0.0.0/8', port: null }],
    ['10.1.2.3', { kind: 'address', family: 'ipv4', cidr: '10.1.2.3', port: null }],
    ['10.1.2.3:443', { kind: 'address', family: 'ipv4', cidr: '10.1.2.3', port: 443 }],
    ['2001:DB8::/32', { kind: 'address', family: 'ipv6', cidr: '2001:db8::/32', port: null }],
    ['2001:db8::1', { kind: 'address', family: 'ipv6', cidr: '2001:db8::1', port: null }],
    ['[2001:db8::1]:443', { kind: 'address', family: 'ipv6', cidr: '2001:db8::1', port: 443 }],
    ['Updates.Example.com.', { kind: 'domain', name: 'updates.example.com', port: null }],
    ['updates.example.com:8443', { kind: 'domain', name: 'updates.example.com', port: 8443 }],
  ])('reads %s', (text, want) => {
    expect(parseDestination(text)).toEqual(want);
  });

  it.each(['10.0.0.0/33', '10.1.2.300', '10.1.2.3:0', '10.1.2.3:65536', 'host:99999', 'a:b:c', '-bad.example', '', '[10.1.2.3]:80', 'exa mple.com', '10.1.2.3:44a'])('refuses %s', (text) => {
    expect(parseDestination(text)).toBeNull();
  });
});

describe('AllowEntry', () => {
  it('accepts one destination, program or unit per entry', () => {
    for (const e of [{ destination: '10.0.0.0/8' }, { program: '/usr/bin/ssh', description: 'admin access' }, { unit: 'sshd.service' }, { unit: 'user@1000.service' }]) expect(AllowEntry.safeParse(e).success).toBe(true);
  });

  it('refuses relative or escaping programs, bad units and mixed entries', () => {
    for (const e of [{ program: 'ssh' }, { program: '/usr/../bin/sh' }, { unit: 'sshd' }, { unit: 'a b.service' }, { destination: '10.0.0.1', program: '/bin/x' }, {}]) expect(AllowEntry.safeParse(e).success).toBe(false);
  });
});
