/**
 * Isolation for real: a Cordon server, an enrolled device and an "outside" host in three network
 * namespaces (see netns.ts), real nftables in the device's namespace, real TCP connections. Nothing
 * here touches the host's own network or firewall.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiRequestError, type MachineAction } from '@cordon/cli/client';
import { CordonBed, AGENT_PORT } from './cordon-bed.js';
import { cordon, sleep, until } from './helpers.js';
import { ADDR, NOBODY, type Peer } from './netns.js';

// The forbidden-destination check runs on every isolation here: the outside host's echo port.
const AGENT_ENV = { CORDON_AGENT_RECONNECT_MAX_SECONDS: '1', CORDON_AGENT_ISOLATION_CONFIRM_SECONDS: '3', CORDON_AGENT_ISOLATION_WATCH_SECONDS: '0.5', CORDON_AGENT_LOG_LEVEL: 'debug', CORDON_AGENT_ISOLATION_PROBE: `${ADDR.outside}:7000` };

const cb = new CordonBed('ci', AGENT_ENV);
const bed = cb.bed;
let device: Peer;
/** A process on the device that is not the agent's user (nobody). */
let deviceNobody: Peer;
let outside: Peer;
/** A process on the server's host (not the Cordon server): it must never open a connection to an isolated device. */
let server: Peer;
/** The outside host's IPv6 link-local address, scoped for the device (`fe80::…%eth0`). */
let outside6: string;
/** The device's IPv6 link-local address, scoped for the other hosts. */
let device6: string;

const nftIn = (ns: string, ...args: string[]) => bed.exec(ns, 'nft', args);
const cordonTable = () => cb.cordonTable();
const act = (path: string, body: Record<string, unknown>) => cb.act(path, body);
const machine = () => cb.machine();
/** Flips one character early in the signature (the last one may only carry padding bits). */
const tamper = (token: string) => {
  const i = token.lastIndexOf('.') + 2;
  return token.slice(0, i) + (token[i] === 'A' ? 'B' : 'A') + token.slice(i + 1);
};

beforeAll(async () => {
  await cb.start();
  device = bed.peer(bed.names.device);
  outside = bed.peer(bed.names.outside);
  expect(await outside.ask(`listen ${ADDR.outside} 7000`)).toBe('listening');
  expect(await outside.ask(`listen ${ADDR.outside} 7002`)).toBe('listening');
  expect(await device.ask(`listen ${ADDR.device} 7001`)).toBe('listening');
  deviceNobody = bed.peer(bed.names.device, undefined, NOBODY);
  server = bed.peer(bed.names.server);
  // IPv6 without leaving the test bed: the link-local address every interface has.
  expect(await outside.ask('listen :: 7003')).toBe('listening');
  expect(await device.ask('listen :: 7004')).toBe('listening');
  const linkLocal = (ns: string) =>
    until(`${ns} link-local address ready`, async () => {
      const m = /inet6 (fe80::[0-9a-f:]+)\/64 scope link(?! tentative)/.exec(execFileSync('ip', ['-n', ns, '-6', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }));
      return m?.[1];
    }, 30_000);
  outside6 = `${await linkLocal(bed.names.outside)}%eth0`;
  device6 = `${await linkLocal(bed.names.device)}%eth0`;
  // The device's own firewall has a table of its own; release must leave it alone.
  nftIn(bed.names.device, 'add', 'table', 'inet', 'hostfw');
}, 180_000);

afterAll(() => cb.cleanup());

describe('isolation in network namespaces (real nftables, real TCP)', () => {
  it('reports the isolation capability with the nft version', async () => {
    const m = await machine();
    expect(m.capabilities.find((c) => c.name === 'isolation')).toMatchObject({ version: '1', provider: expect.stringMatching(/^nftables \d+\.\d+/) });
    expect(m.capabilities.find((c) => c.name === 'isolation')!.unavailable).toBeUndefined();
  });

  it('an agent without nft says so, and isolating it answers NotSupported naming what is missing', async () => {
    await cb.stopAgent();
    // nft lives in /usr/sbin: a PATH without it is a device without nftables.
    cb.startAgent({ PATH: `${cb.agentEnv.PATH!.split(':')[0]}:/usr/bin:/bin` });
    try {
      const cap = await until('capability reported unavailable', async () => (await machine()).capabilities.find((c) => c.name === 'isolation' && c.unavailable), 45_000);
      expect(cap.unavailable).toBe('nft is not installed (install the nftables package)');
      const r = await cb.submit('isolate', { Comment: 'contain', IsolationType: 'Full' }).catch((e: ApiRequestError) => e);
      expect(r).toBeInstanceOf(ApiRequestError);
      expect(r).toMatchObject({ status: 400, code: 'NotSupported' });
      expect((r as ApiRequestError).message).toMatch(/^Isolate device: not available on .+: nft is not installed \(install the nftables package\)/);
    } finally {
      await cb.stopAgent();
      cb.startAgent();
      await until('capability available again', async () => {
        const m = await machine();
        return m.isConnected && m.capabilities.some((c) => c.name === 'isolation' && !c.unavailable);
      }, 45_000);
    }
  }, 120_000);

  it('Full isolation cuts the device off both ways, IPv4 and IPv6, old connections too, fast, while the server channel stays alive', async () => {
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    expect(await device.reaches(outside6, 7003)).toBe('connected');
    expect(await outside.reaches(ADDR.device, 7001)).toBe('connected');
    expect(await outside.reaches(device6, 7004)).toBe('connected');
    expect(await deviceNobody.reaches(ADDR.server, AGENT_PORT)).toBe('connected');
    expect(await server.reaches(ADDR.device, 7001)).toBe('connected');
    expect(await server.reaches(device6, 7004)).toBe('connected');
    // A connection opened before isolation (say, an attacker's session) works now…
    expect(await device.ask(`open before ${ADDR.outside} 7000`)).toBe('opened');
    expect(await device.ask('echo before hello')).toBe('echo hello');
    const submitted = await cb.api.request<MachineAction>('POST', `/api/machines/${cb.machineId}/isolate`, { Comment: 'contain the incident', IsolationType: 'Full' });
    expect(submitted.scope).toBe('Full');
    const done = await cb.api.waitFor(submitted.id, 60_000, () => undefined);
    expect(done.status, done.error ?? '').toBe('Succeeded');
    expect(done.result).toMatchObject({ isolationType: 'Full', servers: [{ address: ADDR.server, port: AGENT_PORT }], notified: { wall: 'delivered' }, isolation: { state: 'Isolated', type: 'Full' }, forbiddenProbe: `${ADDR.outside}:7000 blocked` });
    expect(readFileSync(cb.wallLog, 'utf8')).toMatch(/^wall -n Cordon: This device is being isolated from the network/m);
    expect((await machine()).isolationState).toBe('Isolated');
    expect(cordonTable()).toBe(true);
    // Rejected, not dropped: the connection fails at once (a reset or ICMP), well inside a 10 s limit
    // that a silent drop would run into. IPv4 and IPv6, both directions.
    expect(await device.reaches(ADDR.outside, 7000, 10_000)).toBe('rejected');
    expect(await outside.reaches(ADDR.device, 7001, 10_000)).toBe('rejected');
    expect(await device.reaches(outside6, 7003, 10_000)).toBe('rejected');
    expect(await outside.reaches(device6, 7004, 10_000)).toBe('rejected');
    // Only the agent's user may use the server port: root (the agent's user) still reaches it, another user is rejected.
    expect(await device.reaches(ADDR.server, AGENT_PORT)).toBe('connected');
    expect(await deviceNobody.reaches(ADDR.server, AGENT_PORT, 10_000)).toBe('rejected');
    // The server may answer the agent, but never open a connection to the device.
    expect(await server.reaches(ADDR.device, 7001, 10_000)).toBe('rejected');
    expect(await server.reaches(device6, 7004, 10_000)).toBe('rejected');
    // …and is cut once the device is isolated.
    expect(await device.ask('echo before again')).toMatch(/^fail/);
    // The channel to the server still works: another action completes.
    expect((await act('refreshInventory', { Comment: 'still reachable?' })).status).toBe('Succeeded');
    // The host's own firewall never had a Cordon table.
    expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toMatch(/inet cordon/);
  }, 90_000);

  it('puts flushed rules back while running, and after an agent restart before anything else', async () => {
    // The watchdog polls every 0.5 s and may put its table back before a check right after the flush
    // could see it gone; the device's own table, which nothing restores, proves the flush happened.
    nftIn(bed.names.device, 'flush', 'ruleset');
    expect(nftIn(bed.names.device, 'list', 'tables')).not.toMatch(/inet hostfw/);
    nftIn(bed.names.device, 'add', 'table', 'inet', 'hostfw');
    await until('rules re-applied by the watchdog', async () => cordonTable(), 10_000);
    expect(await device.reaches(ADDR.outside, 7000)).toBe('rejected');

    cb.agent.kill('SIGKILL');
    await new Promise((r) => cb.agent.once('exit', r));
    nftIn(bed.names.device, 'flush', 'ruleset'); // as after a reboot
    nftIn(bed.names.device, 'add', 'table', 'inet', 'hostfw');
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    cb.startAgent();
    await until('rules restored at start', async () => cordonTable(), 15_000);
    expect(await device.reaches(ADDR.outside, 7000)).toBe('rejected');
    await until('agent back online while isolated', async () => (await machine()).isConnected, 30_000);
    expect((await machine()).isolationState).toBe('Isolated');
  }, 90_000);

  it('releases exactly its own table and restores every connection', async () => {
    const done = await act('unisolate', { Comment: 'all clear' });
    expect(done.status, done.error ?? '').toBe('Succeeded');
    expect(done.result).toMatchObject({ wasIsolated: true, releasedBy: 'action', notified: { wall: 'delivered' } });
    expect(readFileSync(cb.wallLog, 'utf8')).toMatch(/isolation of this device has been released/);
    expect((await machine()).isolationState).toBe('NotIsolated');
    expect(cordonTable()).toBe(false);
    expect(nftIn(bed.names.device, 'list', 'tables')).toMatch(/inet hostfw/);
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    expect(await outside.reaches(ADDR.device, 7001)).toBe('connected');
  }, 60_000);

  it('Selective isolation lets exactly the listed destination and program through', async () => {
    // A program of its own (a copy of node under another path), so no other process on the machine matches it.
    const allowedExe = join(bed.dir, 'allowed-node');
    copyFileSync(process.execPath, allowedExe);
    chmodSync(allowedExe, 0o755);
    const allowedPeer = bed.peer(bed.names.device, allowedExe);
    await cb.api.request('PUT', '/api/isolationPolicies/global', { Comment: 'patch server stays reachable', Allow: [{ destination: `${ADDR.outside}:7002`, description: 'patch server' }] });
    await cb.api.request('PUT', '/api/isolationPolicies/tags/jump', { Comment: 'admin tool', Allow: [{ program: allowedExe }] });
    await cb.api.request('POST', `/api/machines/${cb.machineId}/tags`, { Value: 'jump', Action: 'Add' });
    const done = await act('isolate', { Comment: 'contain, keep patching', IsolationType: 'Selective' });
    expect(done.status, done.error ?? '').toBe('Succeeded');
    expect(done.result).toMatchObject({ isolationType: 'Selective', allowed: [`${ADDR.outside}:7002`, `program:${allowedExe}`], notApplied: [] });
    expect(await device.reaches(ADDR.outside, 7002)).toBe('connected');
    expect(await device.reaches(ADDR.outside, 7000)).toBe('rejected');
    expect(await allowedPeer.reaches(ADDR.outside, 7000)).toBe('connected');
    expect(await outside.reaches(ADDR.device, 7001)).toBe('rejected');
    expect((await act('unisolate', { Comment: 'done' })).status).toBe('Succeeded');
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    // The adopted process is back in the cgroup it came from.
    expect(readFileSync(`/proc/${allowedPeer.child.pid}/cgroup`, 'utf8')).not.toMatch(/cordon-allowed/);
    allowedPeer.kill();
    await cb.api.request('POST', `/api/machines/${cb.machineId}/tags`, { Value: 'jump', Action: 'Remove' });
  }, 90_000);

  it('rolls back when the server cannot be reached over the isolated network (lockout guard)', async () => {
    // The server's side refuses new connections from the device; the agent's open channel stays up.
    const rules = join(bed.dir, 'guard.nft');
    writeFileSync(rules, `table inet guard {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    ip saddr ${ADDR.device} tcp dport ${AGENT_PORT} ct state new drop\n  }\n}\n`);
    nftIn(bed.names.server, '-f', rules);
    try {
      const done = await act('isolate', { Comment: 'this one must roll back', IsolationType: 'Full' });
      expect(done.status).toBe('Failed');
      expect(done.error).toMatch(/Rolled back: no server node answered over the isolated network within 3 s \(allowed: 169\.254\.99\.1:8443\)/);
      expect(cordonTable()).toBe(false);
      expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
      expect((await machine()).isolationState).toBe('NotIsolated');
    } finally {
      nftIn(bed.names.server, 'delete', 'table', 'inet', 'guard');
    }
  }, 60_000);

  it('releases with a break-glass token on the device when the server is gone (only the isolation it was issued for)', async () => {
    expect((await act('isolate', { Comment: 'first incident', IsolationType: 'Full' })).status).toBe('Succeeded');
    const first = await cb.api.request<{ token: string; isolatedSince: string | null }>('POST', `/api/machines/${cb.machineId}/releaseToken`, { Comment: 'server migration', ExpiresInHours: 2 });
    expect(first.token).toMatch(/^crt1\./);
    expect(first.isolatedSince).not.toBeNull();
    expect((await act('unisolate', { Comment: 'first incident closed' })).status).toBe('Succeeded');
    expect((await act('isolate', { Comment: 'second incident', IsolationType: 'Full' })).status).toBe('Succeeded');
    cb.server.kill('SIGKILL');
    await new Promise((r) => cb.server.once('exit', r));
    expect(await device.reaches(ADDR.outside, 7000)).toBe('rejected');

    const run = async (token: string) => {
      const p = cb.onDevice(['agent', 'release', '--data-dir', cb.agentDir, '--token', token]);
      await new Promise((r) => p.once('exit', r));
      return { code: p.exitCode, stdout: p.out.stdout, stderr: p.out.stderr };
    };
    // A token from the first incident does not release the second.
    const stale = await run(first.token);
    expect(stale.code).not.toBe(0);
    expect(stale.stderr).toMatch(/releases the isolation that began at/);
    // With the server gone, an admin signs a new token from (a backup of) its data directory.
    const offline = await cordon(['release-token', cb.machineId, '--comment', 'server lost', '--hours', '1', '--data-dir', cb.serverDir]);
    expect(offline.code, offline.stderr).toBe(0);
    const token = offline.stdout.trim();
    expect((await run(tamper(token))).code).not.toBe(0);
    expect(cordonTable()).toBe(true);

    const release = await run(token);
    expect(release.code, release.stderr).toBe(0);
    expect(release.stdout).toMatch(/isolation released/);
    expect(readFileSync(cb.wallLog, 'utf8').trim().split('\n').at(-1)).toMatch(/^wall -n Cordon: Network isolation of this device has been released/);
    expect(cordonTable()).toBe(false);
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    // The running agent reads the journal: it does not put the rules back.
    await sleep(1500);
    expect(cordonTable()).toBe(false);
    const again = await run(token);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already used/);
  }, 90_000);
});
