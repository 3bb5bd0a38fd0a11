import { ACTION_CATALOG } from '@cordon/protocol';
import { describe, expect, it } from 'vitest';
import { readinessOf, storedUsableActions, unsupportedReason } from './readiness.js';

const device = (agent_version: string, capabilities: object[]) => ({ computer_dns_name: 'web-01', agent_version, capabilities: JSON.stringify(capabilities) });
const spec = (type: string) => ACTION_CATALOG.get(type)!;

describe('why a device cannot take an action, as people say it', () => {
  it.each([
    ['an agent without the capability', 'RunAntiVirusScan', device('0.2.0', [{ name: 'inventory', version: '1' }]), "Run antivirus scan: this device's agent cannot scan yet"],
    ['an old agent, whatever it reports', 'Isolate', device('0.1.0', [{ name: 'isolation', version: '1' }]), "Isolate device: this device's agent (0.1.0) is too old; it needs 0.2.0 or later"],
    ['a device that lacks what the agent needs', 'Isolate', device('0.2.0', [{ name: 'isolation', version: '1', unavailable: 'nft is not installed' }]), 'Isolate device: not available on web-01: nft is not installed'],
    ['a device that can', 'CollectInvestigationPackage', device('0.2.0', [{ name: 'investigationPackage', version: '1' }]), null],
  ])('%s', (_case, type, machine, reason) => {
    expect(unsupportedReason(machine, spec(type))).toBe(reason);
  });

  it('names no internal capability or type in any reason', () => {
    for (const s of ACTION_CATALOG.actions) {
      const reason = unsupportedReason(device('0.2.0', []), s)!;
      expect(reason.startsWith(`${s.label}: this device's agent cannot `)).toBe(true);
      expect(reason).not.toContain('capability');
      if (/[A-Z]/.test(s.capability)) expect(reason).not.toContain(s.capability);
      expect(reason).not.toContain('do this');
    }
  });

  it('splits the catalog into what the device can run and what it cannot, and stores the first for $filter', () => {
    const r = readinessOf(ACTION_CATALOG, device('0.2.0', [{ name: 'inventory', version: '1' }, { name: 'isolation', version: '1', unavailable: 'nft is not installed' }]));
    expect(r.usable).toEqual(['RefreshInventory']);
    expect(r.unusable.find((u) => u.action === 'Unisolate')).toEqual({ action: 'Unisolate', reason: 'Release from isolation: not available on web-01: nft is not installed' });
    expect(r.usable.length + r.unusable.length).toBe(ACTION_CATALOG.actions.length);
    expect(storedUsableActions(['Isolate', 'RefreshInventory'])).toBe(',Isolate,RefreshInventory,');
    expect(storedUsableActions([])).toBe('');
  });
});
