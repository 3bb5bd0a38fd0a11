/**
 * IP indicators for real: a Cordon server, an enrolled device and an "outside" host with two
 * addresses in network namespaces (see netns.ts), real nftables in the device's namespace, real
 * TCP connections. An indicator made through MDE's API blocks one outside address on the device
 * (the other and the server stay reachable), an attempt raises an alert, and deleting or expiry
 * lifts it. Nothing here touches the host's own network or firewall.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_PORT, CordonBed } from './cordon-bed.js';
import { until } from './helpers.js';
import { ADDR, type Peer } from './netns.js';

const AGENT_ENV = { CORDON_AGENT_RECONNECT_MAX_SECONDS: '1', CORDON_AGENT_ISOLATION_WATCH_SECONDS: '0.5', CORDON_AGENT_LOG_LEVEL: 'debug' };
/** A second address of the outside host: blocking one address must leave the other reachable. */
const OUTSIDE_2 = '169.254.99.5';

const cb = new CordonBed('ind', AGENT_ENV);
const bed = cb.bed;
let device: Peer;

interface Indicator {
  id: string;
  enforcement: string;
}

const indicatorTable = (): boolean => {
  try {
    bed.exec(bed.names.device, 'nft', ['list', 'table', 'inet', 'cordon_indicators']);
    return true;
  } catch {
    return false;
  }
};
const submit = (body: Record<string, unknown>) => cb.api.request<Indicator>('POST', '/api/indicators', body);
const remove = (id: string) => cb.api.request('DELETE', `/api/indicators/${id}`);
/** Waits until a connection from the device to host:7000 comes to `want` (the agent applies new indicators within seconds). */
const reachesSoon = (host: string, want: string, ms = 30_000) => until(`${host}:7000 ${want}`, async () => ((await device.reaches(host, 7000, 1500)) === want ? true : undefined), ms);

beforeAll(async () => {
  await cb.start();
  bed.ip('-n', bed.names.outside, 'addr', 'add', `${OUTSIDE_2}/24`, 'dev', 'eth0');
  const outside = bed.peer(bed.names.outside);
  expect(await outside.ask(`listen ${ADDR.outside} 7000`)).toBe('listening');
  expect(await outside.ask(`listen ${OUTSIDE_2} 7000`)).toBe('listening');
  device = bed.peer(bed.names.device);
}, 120_000);
afterAll(() => {
  if (process.env.SHOW_AGENT_LOG) process.stderr.write(cb.agent.out.stderr.slice(-6000) + cb.agent.out.stdout.slice(-6000));
  cb.cleanup();
});

describe('IP indicators on a real device', () => {
  it('blocks an address made an indicator through the API, keeps the others and the server, raises an alert, and lifts it when deleted', async () => {
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    expect(await device.reaches(OUTSIDE_2, 7000)).toBe('connected');

    const c2 = await submit({ IndicatorValue: ADDR.outside, IndicatorType: 'IpAddress', Action: 'AlertAndBlock', Title: 'C2 server', Severity: 'High' });
    expect(c2.enforcement).toBe('Block');
    await reachesSoon(ADDR.outside, 'rejected');
    // Only that address: the other one, the server and the agent's own channel are untouched.
    expect(await device.reaches(OUTSIDE_2, 7000)).toBe('connected');
    expect(await device.reaches(ADDR.server, AGENT_PORT)).toBe('connected');
    expect((await cb.machine()).isConnected).toBe(true);
    // A table of its own: isolation's is not there.
    expect(indicatorTable()).toBe(true);
    expect(cb.cordonTable()).toBe(false);

    // The refused attempts became an alert on this device (the watchdog reads the counters every 0.5 s).
    const alert = await until(
      'the blocked-connection alert',
      async () => {
        const list = await cb.api.request<{ value: { machineId: string; title: string; severity: string; detectionSource: string; evidence: { ipAddress: string | null; detectionStatus: string | null }[] }[] }>('GET', `/api/alerts?$filter=${encodeURIComponent("detectionSource eq 'Indicator'")}`);
        return list.value[0];
      },
      30_000,
    );
    expect(alert).toMatchObject({ machineId: cb.machineId, title: `Connection to a blocked address: ${ADDR.outside}`, severity: 'High' });
    expect(alert.evidence[0]).toMatchObject({ ipAddress: ADDR.outside, detectionStatus: 'Blocked' });
    expect((await cb.api.request<{ riskScore: string }>('GET', `/api/machines/${cb.machineId}`)).riskScore).toBe('High');

    await remove(c2.id);
    await reachesSoon(ADDR.outside, 'connected');
    await until('the indicator table removed', async () => (indicatorTable() ? undefined : true), 10_000);
  }, 120_000);

  it('keeps the block across an agent restart and a flushed table, and lifts it when the indicator expires', async () => {
    const expires = new Date(Date.now() + 25_000);
    const blocked = await submit({ IndicatorValue: OUTSIDE_2, IndicatorType: 'IpAddress', Action: 'Block', Title: 'short-lived', ExpirationTime: expires.toISOString() });
    await reachesSoon(OUTSIDE_2, 'rejected');
    // The agent stops and the table is flushed (as a reboot would): the restarted agent puts it back.
    await cb.stopAgent();
    expect(await device.reaches(OUTSIDE_2, 7000)).toBe('rejected');
    bed.exec(bed.names.device, 'nft', ['delete', 'table', 'inet', 'cordon_indicators']);
    expect(await device.reaches(OUTSIDE_2, 7000)).toBe('connected');
    cb.startAgent();
    await reachesSoon(OUTSIDE_2, 'rejected');
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    // Expiry is the agent's own: it lifts the block within seconds of the time, well within a minute.
    await reachesSoon(OUTSIDE_2, 'connected', 60_000);
    expect(Date.now() - expires.getTime()).toBeLessThan(60_000);
    expect((await cb.api.request<Indicator & { isExpired: boolean }>('GET', `/api/indicators/${blocked.id}`)).isExpired).toBe(true);
  }, 150_000);
});
