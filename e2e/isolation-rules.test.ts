/**
 * The isolation rule set itself, probed in network namespaces: the exact text the agent loads
 * (buildRuleset) with a server and name servers inside the test bed, IPv4 and IPv6, so every
 * promise of the README is checked with real packets — only the agent's user reaches the server
 * port and the name servers; the server and the name servers may answer but never open a
 * connection to the device, even from the port they serve; what is blocked is rejected at once,
 * never left to time out. No Cordon processes: quick, and independent of the agent's code paths.
 * Nothing here touches the host's own network or firewall.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildRuleset } from '../packages/agent/src/platform/linux/nft-ruleset.js';
import { REAL, requireReal, until } from './helpers.js';
import { ADDR, NetnsBed, NOBODY, type Peer } from './netns.js';

const SERVER_PORT = 8443;
const bed = new NetnsBed('ir');
const ns = bed.names;
/** Root on the device: the agent's user. */
let agent: Peer;
/** Another user on the device. */
let nobody: Peer;
/** Probes from the server's host and the outside host (the name server's). */
let server: Peer;
let outside: Peer;
/** The listeners on the server's port and the name server's port, apart: the spoofing probes need those ports free. */
let serverListener: Peer;
let dnsListener: Peer;
/** Link-local IPv6 addresses (`fe80::…`), and the same scoped for connecting (`…%eth0`). */
const v6 = { server: '', device: '', outside: '' };
const scoped = (a: string) => `${a}%eth0`;

const nft = (space: string, ...args: string[]) => bed.exec(space, requireReal(REAL.nft), args);

function loadIsolation(): void {
  const text = buildRuleset({ servers: [{ address: ADDR.server, port: SERVER_PORT }, { address: v6.server, port: SERVER_PORT }], resolvers: [ADDR.outside, v6.outside], agentUid: 0, destinations: [], cgroups: [] });
  const file = join(bed.dir, 'isolation.nft');
  writeFileSync(file, text);
  nft(ns.device, '-f', file);
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('The isolation rule tests need root (network namespaces and nftables)');
  requireReal(REAL.nft);
  bed.create();
  agent = bed.peer(ns.device);
  nobody = bed.peer(ns.device, undefined, NOBODY);
  server = bed.peer(ns.server);
  outside = bed.peer(ns.outside);
  serverListener = bed.peer(ns.server);
  dnsListener = bed.peer(ns.outside);
  // The server's agent port and a name server's port 53 (TCP: what a probe can tell), IPv4 and IPv6 alike.
  expect(await serverListener.ask(`listen :: ${SERVER_PORT}`)).toBe('listening');
  expect(await serverListener.ask(`listen :: ${SERVER_PORT + 1}`)).toBe('listening');
  expect(await dnsListener.ask('listen :: 53')).toBe('listening');
  expect(await outside.ask('listen :: 7000')).toBe('listening');
  expect(await agent.ask('listen :: 7001')).toBe('listening');
  for (const host of ['server', 'device', 'outside'] as const) {
    v6[host] = await until(`${host} link-local address ready`, async () => /inet6 (fe80::[0-9a-f:]+)\/64 scope link(?! tentative)/.exec(execFileSync('ip', ['-n', ns[host], '-6', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' }))?.[1], 30_000);
  }
  // A host that drops (never answers) port 7009: what a time-out looks like, for the probe's own check.
  const drop = join(bed.dir, 'drop.nft');
  writeFileSync(drop, 'table inet silent {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    tcp dport 7009 drop\n  }\n}\n');
  nft(ns.outside, '-f', drop);
}, 120_000);

afterAll(() => bed.cleanup());

describe('the isolation rule set, probed with real packets (IPv4 and IPv6)', () => {
  it('the probe tells a reject from a time-out', async () => {
    expect(await agent.reaches(ADDR.outside, 7009, 500)).toBe('timeout');
    expect(await agent.reaches(scoped(v6.outside), 7009, 500)).toBe('timeout');
    expect(await agent.reaches(ADDR.outside, 7010)).toBe('rejected'); // nothing listens: a reset
    expect(await agent.reaches(scoped(v6.outside), 7010)).toBe('rejected');
    expect(await agent.reaches(ADDR.outside, 7000)).toBe('connected');
  });

  it('before isolation, every user and every host connects', async () => {
    for (const p of [agent, nobody]) {
      expect(await p.reaches(ADDR.server, SERVER_PORT)).toBe('connected');
      expect(await p.reaches(scoped(v6.server), SERVER_PORT + 1)).toBe('connected');
      expect(await p.reaches(ADDR.outside, 53)).toBe('connected');
      expect(await p.reaches(scoped(v6.outside), 53)).toBe('connected');
    }
    expect(await server.reaches(ADDR.device, 7001)).toBe('connected');
    expect(await server.reachesFrom({ address: ADDR.server, port: SERVER_PORT + 2 }, ADDR.device, 7001)).toBe('connected');
    expect(await outside.reaches(scoped(v6.device), 7001)).toBe('connected');
  });

  describe('isolated', () => {
    beforeAll(() => loadIsolation());

    it("only the agent's user reaches the server port and the name servers; anyone else is rejected at once", async () => {
      // A 10 s limit: a drop would show as a time-out, a reject answers at once.
      expect(await agent.reaches(ADDR.server, SERVER_PORT)).toBe('connected');
      expect(await agent.reaches(scoped(v6.server), SERVER_PORT)).toBe('connected');
      expect(await agent.reaches(ADDR.outside, 53)).toBe('connected');
      expect(await agent.reaches(scoped(v6.outside), 53)).toBe('connected');
      expect(await nobody.reaches(ADDR.server, SERVER_PORT, 10_000)).toBe('rejected');
      expect(await nobody.reaches(scoped(v6.server), SERVER_PORT, 10_000)).toBe('rejected');
      expect(await nobody.reaches(ADDR.outside, 53, 10_000)).toBe('rejected');
      expect(await nobody.reaches(scoped(v6.outside), 53, 10_000)).toBe('rejected');
      // The server is allowed on its port only; the name server on 53 only.
      expect(await agent.reaches(scoped(v6.server), SERVER_PORT + 1, 10_000)).toBe('rejected');
      expect(await agent.reaches(ADDR.outside, 7000, 10_000)).toBe('rejected');
      expect(await agent.reaches(scoped(v6.outside), 7000, 10_000)).toBe('rejected');
    });

    it('the server and the name servers may answer but never open a connection to the device, not even from the port they serve', async () => {
      expect(await server.reaches(ADDR.device, 7001, 10_000)).toBe('rejected');
      expect(await server.reaches(scoped(v6.device), 7001, 10_000)).toBe('rejected');
      // The device's own connection to the server is answered.
      expect(await agent.reaches(ADDR.server, SERVER_PORT)).toBe('connected');
      serverListener.kill();
      dnsListener.kill();
      await Promise.all([serverListener, dnsListener].map((p) => new Promise((r) => (p.child.exitCode !== null || p.child.signalCode !== null ? r(null) : p.child.once('exit', r)))));
      // Posing as the agent channel's far end (source port 8443) or as DNS (source port 53) opens nothing.
      expect(await server.reachesFrom({ address: ADDR.server, port: SERVER_PORT }, ADDR.device, 7001, 10_000)).toBe('rejected');
      expect(await server.reachesFrom({ address: scoped(v6.server), port: SERVER_PORT }, scoped(v6.device), 7001, 10_000)).toBe('rejected');
      expect(await outside.reachesFrom({ address: ADDR.outside, port: 53 }, ADDR.device, 7001, 10_000)).toBe('rejected');
      expect(await outside.reachesFrom({ address: scoped(v6.outside), port: 53 }, scoped(v6.device), 7001, 10_000)).toBe('rejected');
    });
  });
});
