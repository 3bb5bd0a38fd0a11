import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommandSigner, generateSigningKey } from '@cordon/protocol';
import { writeState } from '../../enrollment-state.js';
import { fakePlatform } from '../../testing/fake-platform.js';
import { breakGlassRelease, IsolationManager, type IsolationDeps } from './manager.js';
import { readIsolation } from './state.js';

const logger = pino({ level: 'silent' });
const MACHINE = 'b'.repeat(40);
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'cordon-iso-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function manager(fake = fakePlatform(), over: Partial<IsolationDeps> = {}) {
  const m = new IsolationManager({ dataDir: dir, platform: fake.platform, serverUrls: ['https://cordon.example:8443'], caCertPem: '', logger, confirmSeconds: 1, resolve: async (h) => (h === 'cordon.example' ? ['10.9.9.9'] : h === 'updates.example' ? ['10.7.7.7', '10.7.7.8'] : Promise.reject(new Error('NXDOMAIN'))), confirm: async () => 12, ...over });
  return { m, ...fake };
}

describe('IsolationManager', () => {
  it('isolates: applies the plan, confirms the server, journals, notifies', async () => {
    const { m, firewall, notices } = manager();
    const r = await m.isolate('Full', [], 'a1');
    expect(firewall.plan).toMatchObject({ servers: [{ address: '10.9.9.9', port: 8443 }], resolvers: ['10.0.0.53'], destinations: [], cgroups: [] });
    expect(r).toMatchObject({ isolationType: 'Full', confirmedInMs: 12, notified: { wall: 'delivered' } });
    expect(readIsolation(dir)).toMatchObject({ state: 'Isolated', type: 'Full', actionId: 'a1' });
    expect(m.status()).toMatchObject({ state: 'Isolated', type: 'Full', releasedBy: null });
    expect(m.report()).toEqual({ isolation: m.status() });
    expect(notices[0]).toMatch(/being isolated/);
  });

  it('applies the rules without probing nft first (each nft run delays the isolation)', async () => {
    const { m, firewall } = manager();
    await m.isolate('Full', [], 'a1');
    expect(firewall).toMatchObject({ applies: 1, checks: 0 });
  });

  it('resolves a selective policy and lists what it could not apply', async () => {
    const { m, firewall } = manager();
    const r = await m.isolate('Selective', [{ destination: '10.0.0.0/8' }, { destination: 'updates.example:443' }, { destination: 'gone.example' }, { unit: 'sshd.service' }, { unit: 'nope.service' }, { program: '/usr/bin/ssh' }], 'a2');
    expect(firewall.plan!.destinations).toEqual([
      { family: 'ipv4', cidr: '10.0.0.0/8', port: null },
      { family: 'ipv4', cidr: '10.7.7.7', port: 443 },
      { family: 'ipv4', cidr: '10.7.7.8', port: 443 },
    ]);
    expect(firewall.plan!.cgroups).toEqual([{ path: 'system.slice/sshd.service', level: 2 }, { path: 'cordon-allowed', level: 1 }]);
    expect(r.notApplied).toEqual([
      { entry: 'gone.example', reason: 'does not resolve: NXDOMAIN' },
      { entry: 'unit:nope.service', reason: 'nope.service is not running' },
    ]);
  });

  it('rolls back and fails when the server does not answer after applying', async () => {
    const { m, firewall } = manager(fakePlatform(), { confirm: async () => null });
    await expect(m.isolate('Full', [], 'a3')).rejects.toThrow('Rolled back: no server node answered over the isolated network within 1 s (allowed: 10.9.9.9:8443)');
    expect(firewall.plan).toBeNull();
    expect(readIsolation(dir).state).toBe('NotIsolated');
  });

  it('rolls back to the earlier isolation when a change of isolation fails', async () => {
    let answer: number | null = 5;
    const { m, firewall } = manager(fakePlatform(), { confirm: async () => answer });
    await m.isolate('Selective', [{ destination: '10.0.0.0/8' }], 'a4');
    answer = null;
    await expect(m.isolate('Full', [], 'a5')).rejects.toThrow(/Rolled back/);
    expect(firewall.plan!.destinations).toHaveLength(1);
    expect(readIsolation(dir)).toMatchObject({ state: 'Isolated', type: 'Selective', actionId: 'a4' });
  });

  it('fails with the reason and leaves nothing behind when nft is missing or refuses', async () => {
    const missing = manager(fakePlatform({ nft: { ok: false, reason: 'nft is not installed (install the nftables package)' } }));
    await expect(missing.m.isolate('Full', [], 'a6')).rejects.toThrow('Isolation is not possible on this device: nft is not installed (install the nftables package)');
    expect(missing.firewall).toMatchObject({ plan: null, applies: 0, removes: 0 });
    const refusing = manager(fakePlatform({ applyFails: 'nft refused the rule set: syntax error' }));
    await expect(refusing.m.isolate('Full', [], 'a7')).rejects.toThrow('nft refused the rule set: syntax error');
    expect(refusing.firewall.removes).toBe(1);
    expect(refusing.firewall.checks).toBe(1);
    expect(readIsolation(dir).state).toBe('NotIsolated');
  });

  it('refuses to isolate when the server name does not resolve (it would lock the agent out)', async () => {
    const { m, firewall } = manager(fakePlatform(), { serverUrls: ['https://unknown.example:8443'] });
    await expect(m.isolate('Full', [], 'a8')).rejects.toThrow(/Cannot resolve the server name unknown.example/);
    expect(firewall.applies).toBe(0);
  });

  describe('with several server nodes', () => {
    const NODES = ['https://cordon-b.example:9443', 'https://10.8.8.8:8443', 'https://cordon.example:8443'];
    const dns = (table: Record<string, string[]>) => async (h: string) => table[h] ?? Promise.reject(new Error('NXDOMAIN'));

    it('keeps every node reachable, each on its own port, home first, so an isolated agent can fail over', async () => {
      const { m, firewall } = manager(fakePlatform(), { serverUrls: NODES, resolve: dns({ 'cordon-b.example': ['10.5.5.6', '10.5.5.5'], 'cordon.example': ['10.9.9.9'] }) });
      const r = await m.isolate('Full', [], 'n1');
      const servers = [{ address: '10.5.5.5', port: 9443 }, { address: '10.5.5.6', port: 9443 }, { address: '10.8.8.8', port: 8443 }, { address: '10.9.9.9', port: 8443 }];
      expect(firewall.plan!.servers).toEqual(servers);
      expect(r.servers).toEqual(servers);
      expect(readIsolation(dir).servers).toEqual(servers);
    });

    it('isolates when one node name does not resolve, says so, and keeps its journaled addresses at boot', async () => {
      await manager(fakePlatform(), { serverUrls: NODES, resolve: dns({ 'cordon-b.example': ['10.5.5.5'], 'cordon.example': ['10.9.9.9'] }) }).m.isolate('Full', [], 'n2');
      const partial = manager(fakePlatform(), { serverUrls: NODES, resolve: dns({ 'cordon.example': ['10.9.9.9'] }) });
      const r = await partial.m.isolate('Full', [], 'n3');
      expect(r.notApplied).toEqual([{ entry: 'server:cordon-b.example', reason: 'does not resolve: NXDOMAIN' }]);
      expect(partial.firewall.plan!.servers).toEqual([{ address: '10.8.8.8', port: 8443 }, { address: '10.9.9.9', port: 8443 }]);
      // At boot without DNS: every endpoint the journal knows, the home node's included.
      const booted = manager(fakePlatform(), { serverUrls: NODES, resolve: dns({}) });
      await booted.m.restore();
      expect(booted.firewall.plan!.servers).toEqual(expect.arrayContaining([{ address: '10.8.8.8', port: 8443 }, { address: '10.9.9.9', port: 8443 }]));
    });

    it('refuses a new isolation only when no node at all can be reached', async () => {
      const { m, firewall } = manager(fakePlatform(), { serverUrls: ['https://a.example:1', 'https://b.example:2'], resolve: dns({}) });
      await expect(m.isolate('Full', [], 'n4')).rejects.toThrow('Cannot resolve the server names a.example, b.example; isolating now would lock the agent out');
      expect(firewall.applies).toBe(0);
    });

    it("reads an older agent's journal: its server addresses are the home node's, on the home port", async () => {
      writeFileSync(join(dir, 'isolation.json'), JSON.stringify({ state: 'Isolated', type: 'Full', allow: [], since: '2026-01-01T00:00:00.000Z', actionId: 'old', releasedBy: null, serverAddresses: ['10.9.9.9'], usedReleaseTokens: [] }));
      const { m, firewall } = manager(fakePlatform(), { resolve: dns({}) });
      await m.restore();
      expect(firewall.plan!.servers).toEqual([{ address: '10.9.9.9', port: 8443 }]);
    });
  });

  it('restores isolation at start and re-applies rules that went missing', async () => {
    const first = manager();
    await first.m.isolate('Full', [], 'a9');
    const fresh = fakePlatform(); // a reboot: no rules loaded
    const { m, firewall } = manager(fresh);
    await m.restore();
    expect(firewall.plan).not.toBeNull();
    const before = firewall.applies;
    await m.check();
    expect(firewall.applies).toBe(before); // in force: nothing to do
    firewall.plan = null; // someone ran `nft flush ruleset`
    await m.check();
    expect(firewall.applies).toBe(before + 1);
  });

  it('releases: journal first, then exactly the rules; a later check removes leftovers', async () => {
    const { m, firewall, notices } = manager();
    await m.isolate('Full', [], 'a10');
    const r = await m.release('action');
    expect(r).toMatchObject({ wasIsolated: true, releasedBy: 'action' });
    expect(firewall.plan).toBeNull();
    expect(readIsolation(dir)).toMatchObject({ state: 'NotIsolated', releasedBy: 'action' });
    expect(notices[1]).toMatch(/released/);
    firewall.plan = { servers: [], resolvers: [], agentUid: 0, destinations: [], cgroups: [] };
    await m.check();
    expect(firewall.plan).toBeNull();
  });

  it('re-isolates at boot even when the server name does not resolve (journaled addresses, else none)', async () => {
    await manager().m.isolate('Full', [], 'a13');
    const noDns = { resolve: async () => Promise.reject(new Error('EAI_AGAIN')) };
    const booted = manager(fakePlatform(), noDns);
    await booted.m.restore();
    expect(booted.firewall.plan!.servers).toEqual([{ address: '10.9.9.9', port: 8443 }]);
    writeFileSync(join(dir, 'isolation.json'), JSON.stringify({ ...readIsolation(dir), servers: [] }));
    const bare = manager(fakePlatform(), noDns);
    await bare.m.restore();
    expect(bare.firewall.plan).toMatchObject({ servers: [], resolvers: ['10.0.0.53'] });
  });

  it('rolls back when the forbidden test destination is still reachable', async () => {
    const listener = createServer((s) => s.destroy());
    await new Promise<void>((r) => listener.listen(0, '127.0.0.1', () => r()));
    try {
      const { port } = listener.address() as AddressInfo;
      const { m, firewall } = manager(fakePlatform(), { forbiddenProbe: `127.0.0.1:${port}` });
      await expect(m.isolate('Full', [], 'a14')).rejects.toThrow(`Rolled back: isolation is not effective, 127.0.0.1:${port} is still reachable`);
      expect(firewall.plan).toBeNull();
      listener.close();
      await new Promise((r) => setTimeout(r, 50));
      expect(await m.isolate('Full', [], 'a15')).toMatchObject({ forbiddenProbe: `127.0.0.1:${port} blocked` });
    } finally {
      listener.close();
    }
  });

  it('fails closed on a damaged journal: Full isolation until an action rewrites it', async () => {
    writeFileSync(join(dir, 'isolation.json'), '{"state":"Maybe"');
    const { m, firewall } = manager();
    await m.restore();
    expect(firewall.plan).toMatchObject({ servers: [{ address: '10.9.9.9', port: 8443 }], destinations: [], cgroups: [] });
    expect(m.status()).toMatchObject({ state: 'Isolated', type: 'Full' });
    await m.release('action');
    expect(firewall.plan).toBeNull();
    expect(readIsolation(dir).state).toBe('NotIsolated');
  });

  it('falls back to Full isolation when nft refuses the selective rule set at start', async () => {
    await manager().m.isolate('Selective', [{ unit: 'sshd.service' }], 'a16');
    const fake = fakePlatform();
    const apply = fake.firewall.apply.bind(fake.firewall);
    fake.firewall.apply = async (plan) => {
      if (plan.cgroups.length > 0) throw new Error('cgroupv2 path fails: No such file or directory');
      return apply(plan);
    };
    const { m, firewall } = manager(fake);
    await m.restore();
    expect(firewall.plan).toMatchObject({ destinations: [], cgroups: [] });
  });

  it('enforces at start before DNS answers, and only adds server addresses DNS reports later', async () => {
    await manager().m.isolate('Full', [], 'a17');
    let release!: () => void;
    const slowDns = new Promise<void>((r) => (release = r));
    let answer = ['10.9.9.9'];
    const { m, firewall } = manager(fakePlatform(), { resolve: async () => (await slowDns, answer) });
    const restoring = m.restore();
    await new Promise((r) => setTimeout(r, 20));
    expect(firewall.plan).toMatchObject({ servers: [{ address: '10.9.9.9', port: 8443 }] });
    release();
    await restoring;
    answer = ['10.6.6.6'];
    await m.check();
    expect(firewall.plan!.servers).toEqual([{ address: '10.9.9.9', port: 8443 }, { address: '10.6.6.6', port: 8443 }]);
  });
});

describe('breakGlassRelease', () => {
  const keys = generateSigningKey();
  const signer = new CommandSigner(keys.privateKeyPem);
  const token = (over: Partial<{ machineId: string; expiresAt: string; isolatedSince: string }> = {}) =>
    signer.signReleaseToken({ purpose: 'release-isolation', tokenId: crypto.randomUUID(), machineId: over.machineId ?? MACHINE, issuedBy: 'admin', issuedAt: new Date().toISOString(), expiresAt: over.expiresAt ?? new Date(Date.now() + 3600_000).toISOString(), isolatedSince: over.isolatedSince });

  beforeEach(async () => {
    writeState(dir, { serverUrls: ['https://10.9.9.9:8443'], machineId: MACHINE, credential: 'x'.repeat(20), caCertPem: '-----BEGIN CERTIFICATE-----', signingPublicKeyPem: keys.publicKeyPem, enrolledAt: new Date().toISOString() });
  });

  it('releases once with a valid token, and refuses reuse, other machines, expiry and forgery', async () => {
    const fake = fakePlatform();
    await manager(fake).m.isolate('Full', [], 'a11');
    await expect(breakGlassRelease(dir, token({ machineId: 'c'.repeat(40) }), fake.platform, logger)).rejects.toThrow(/not this one/);
    await expect(breakGlassRelease(dir, token({ expiresAt: new Date(Date.now() - 1000).toISOString() }), fake.platform, logger)).rejects.toThrow(/expired/);
    const forged = new CommandSigner(generateSigningKey().privateKeyPem).signReleaseToken({ purpose: 'release-isolation', tokenId: crypto.randomUUID(), machineId: MACHINE, issuedBy: 'x', issuedAt: new Date().toISOString(), expiresAt: new Date(Date.now() + 1000_000).toISOString() });
    await expect(breakGlassRelease(dir, forged, fake.platform, logger)).rejects.toThrow(/signature does not verify/);
    await expect(breakGlassRelease(dir, 'hello', fake.platform, logger)).rejects.toThrow(/not a Cordon release token/);
    await expect(breakGlassRelease(dir, token({ isolatedSince: '2026-01-01T00:00:00.000Z' }), fake.platform, logger)).rejects.toThrow(/releases the isolation that began at 2026-01-01T00:00:00.000Z/);
    expect(fake.firewall.plan).not.toBeNull();
    const t = token({ isolatedSince: readIsolation(dir).since! });
    expect(await breakGlassRelease(dir, t, fake.platform, logger)).toMatchObject({ releasedBy: 'breakGlass', issuedBy: 'admin' });
    expect(fake.firewall.plan).toBeNull();
    expect(readIsolation(dir)).toMatchObject({ state: 'NotIsolated', releasedBy: 'breakGlass' });
    await manager(fake).m.isolate('Full', [], 'a12');
    await expect(breakGlassRelease(dir, t, fake.platform, logger)).rejects.toThrow(/already used/);
  });
});
