import { pino } from 'pino';
import { beforeEach, describe, expect, it } from 'vitest';
import type { AgentDetection, ContentManifest, IndicatorEntry } from '@cordon/protocol';
import { IndicatorSet } from '../../content/indicators.js';
import { fakePlatform } from '../../testing/fake-platform.js';
import { ALERT_EVERY_MS, IndicatorBlocker } from './blocker.js';

const entry = (id: string, value: string, over: Partial<IndicatorEntry> = {}): IndicatorEntry => ({ id, value, type: 'IpAddress', action: 'Block', severity: 'High', title: `t${id}`, generateAlert: true, expirationTime: null, ...over });

/** The installed indicator content, as the content store would load it. */
let installed: { version: number; entries: IndicatorEntry[] } | null;
let clock: number;
let fake: ReturnType<typeof fakePlatform>;
let events: AgentDetection[];
let indicators: IndicatorSet;

function install(entries: IndicatorEntry[]): void {
  installed = { version: (installed?.version ?? 0) + 1, entries };
  indicators.reload();
}

/** What names resolve to in these tests (a missing one fails to resolve). */
let dns: Record<string, string[]>;

function blocker(): IndicatorBlocker {
  return new IndicatorBlocker({
    resolve: async (name) => {
      const found = dns[name];
      if (!found) throw new Error('ENOTFOUND');
      return found;
    },
    firewall: fake.platform.indicatorFirewall,
    indicators,
    serverUrls: ['https://10.0.0.1:8443', 'https://[fd00::1]:8443'],
    reportEvent: (_kind, data) => events.push(data),
    logger: pino({ level: 'silent' }),
    now: () => new Date(clock),
  });
}

const flush = () => new Promise((r) => setTimeout(r, 10));

beforeEach(() => {
  installed = null;
  clock = Date.parse('2026-11-30T10:00:00Z');
  fake = fakePlatform();
  events = [];
  dns = {};
  indicators = new IndicatorSet({ load: () => (installed ? { manifest: { version: installed.version } as ContentManifest, bytes: Buffer.from(JSON.stringify({ format: 'cordon-indicators/v1', indicators: installed.entries })) } : null) });
});

describe('indicator blocks', () => {
  it('blocks the blocking IP indicators in force, watches the alerting ones, and leaves the rest alone', async () => {
    installed = {
      version: 1,
      entries: [
        entry('1', '203.0.113.7'),
        entry('2', '2001:db8::7', { action: 'AlertAndBlock' }),
        entry('3', '198.51.100.9', { action: 'Alert' }),
        entry('4', '198.51.100.10', { action: 'Allowed' }),
        entry('5', 'evil.example', { type: 'DomainName' }),
        entry('6', 'a'.repeat(64), { type: 'FileSha256' }),
      ],
    };
    await blocker().restore();
    expect(fake.indicatorFirewall.rules).toEqual({ blocked: ['2001:db8::7', '203.0.113.7'], watched: ['198.51.100.9'] });
  });

  it('never blocks a Cordon server address', async () => {
    installed = { version: 1, entries: [entry('1', '10.0.0.1'), entry('2', 'fd00::1'), entry('3', '203.0.113.7')] };
    await blocker().restore();
    expect(fake.indicatorFirewall.rules).toEqual({ blocked: ['203.0.113.7'], watched: [] });
  });

  it('applies each new version at once, and removes the table when nothing is left', async () => {
    const b = blocker();
    await b.restore();
    expect(fake.indicatorFirewall.rules).toBeNull();
    install([entry('1', '203.0.113.7')]);
    await flush();
    expect(fake.indicatorFirewall.rules?.blocked).toEqual(['203.0.113.7']);
    install([]);
    await flush();
    expect(fake.indicatorFirewall.rules).toBeNull();
  });

  it('stops enforcing an indicator when it expires, offline, at the next watchdog check', async () => {
    installed = { version: 1, entries: [entry('1', '203.0.113.7', { expirationTime: new Date(clock + 30_000).toISOString() }), entry('2', '203.0.113.8')] };
    const b = blocker();
    await b.restore();
    expect(fake.indicatorFirewall.rules?.blocked).toEqual(['203.0.113.7', '203.0.113.8']);
    clock += 29_000;
    await b.check();
    expect(fake.indicatorFirewall.rules?.blocked).toEqual(['203.0.113.7', '203.0.113.8']);
    clock += 2_000;
    await b.check();
    expect(fake.indicatorFirewall.rules?.blocked).toEqual(['203.0.113.8']);
  });

  it('asks nothing of the firewall when there is nothing to enforce (a device without nft starts quietly)', async () => {
    const calls: string[] = [];
    const fw = fake.platform.indicatorFirewall;
    fake.platform.indicatorFirewall = {
      apply: (r) => (calls.push('apply'), fw.apply(r)),
      remove: () => (calls.push('remove'), fw.remove()),
      active: () => (calls.push('active'), fw.active()),
      counts: () => (calls.push('counts'), fw.counts()),
    };
    const b = blocker();
    await b.restore();
    await b.check();
    expect(calls.filter((c) => c !== 'active')).toEqual([]);
  });

  it('puts the rules back when another tool flushed them', async () => {
    installed = { version: 1, entries: [entry('1', '203.0.113.7')] };
    const b = blocker();
    await b.restore();
    fake.indicatorFirewall.rules = null;
    await b.check();
    expect((fake.indicatorFirewall.rules as { blocked: string[] } | null)?.blocked).toEqual(['203.0.113.7']);
  });

  it('raises an alert for attempts on a blocked or watched address, once per address per ten minutes, and not when the indicator says no alert', async () => {
    installed = { version: 1, entries: [entry('1', '203.0.113.7', { title: 'C2' }), entry('2', '198.51.100.9', { action: 'Alert', severity: 'Low' }), entry('3', '203.0.113.8', { generateAlert: false })] };
    const b = blocker();
    await b.restore();
    fake.indicatorFirewall.counts.set('203.0.113.7', 3).set('198.51.100.9', 1).set('203.0.113.8', 5);
    await b.check();
    expect(events).toEqual([
      expect.objectContaining({ title: 'Connection to a blocked address: 203.0.113.7', severity: 'High', detectionSource: 'Indicator', evidence: [{ entityType: 'Ip', ipAddress: '203.0.113.7', detectionStatus: 'Blocked' }] }),
      expect.objectContaining({ title: 'Connection to a watched address: 198.51.100.9', severity: 'Low', evidence: [{ entityType: 'Ip', ipAddress: '198.51.100.9', detectionStatus: 'Detected' }] }),
    ]);
    expect(events[0]!.description).toContain('3 packet(s)');
    expect(events[0]!.description).toContain('"C2"');
    // More attempts soon after: counted, not reported yet; no new attempts: nothing.
    fake.indicatorFirewall.counts.set('203.0.113.7', 10);
    clock += 60_000;
    await b.check();
    await b.check();
    expect(events).toHaveLength(2);
    clock += ALERT_EVERY_MS;
    fake.indicatorFirewall.counts.set('203.0.113.7', 11);
    await b.check();
    expect(events).toHaveLength(3);
    expect(events[2]!.description).toContain('8 packet(s)');
  });

  it('watches the addresses domain and URL indicators resolve to (alert only: never blocked), and reports them by name', async () => {
    dns = { 'evil.example': ['203.0.113.20', '2001:db8::20'], 'cdn.bad.example': ['203.0.113.21'], 'both.example': ['203.0.113.7'] };
    installed = {
      version: 1,
      entries: [
        entry('1', '203.0.113.7'),
        entry('2', 'evil.example', { type: 'DomainName', action: 'Block' }),
        entry('3', 'https://cdn.bad.example/payload.sh', { type: 'Url', action: 'Alert', severity: 'Medium' }),
        entry('4', 'both.example', { type: 'DomainName' }),
        entry('5', 'gone.example', { type: 'DomainName' }),
      ],
    };
    const b = blocker();
    await b.restore();
    // Restore never waits for DNS: names are resolved by the watchdog.
    expect(fake.indicatorFirewall.rules).toEqual({ blocked: ['203.0.113.7'], watched: [] });
    await b.check();
    expect(fake.indicatorFirewall.rules).toEqual({ blocked: ['203.0.113.7'], watched: ['2001:db8::20', '203.0.113.20', '203.0.113.21'] });
    fake.indicatorFirewall.counts.set('203.0.113.21', 2);
    await b.check();
    expect(events).toEqual([
      expect.objectContaining({
        title: 'Connection to a watched address: cdn.bad.example (203.0.113.21)',
        evidence: [{ entityType: 'Url', ipAddress: '203.0.113.21', domain: 'cdn.bad.example', url: 'https://cdn.bad.example/payload.sh', detectionStatus: 'Detected' }],
      }),
    ]);
    // A resolver outage keeps the addresses it had.
    dns = {};
    clock += 11 * 60_000;
    await b.check();
    expect(fake.indicatorFirewall.rules?.watched).toEqual(['2001:db8::20', '203.0.113.20', '203.0.113.21']);
  });
});
