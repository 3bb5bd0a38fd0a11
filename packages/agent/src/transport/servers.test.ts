import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { returnHomeDelayMs } from './backoff.js';
import { parseServerUrls, rankServers, ServerChoice, ServerCursor } from './servers.js';

const URLS = ['https://node-a:8443', 'https://node-b:8443', 'https://node-c:8443'];
const machine = (i: number) => createHash('sha1').update(`device-${i}`).digest('hex');
const count = (xs: string[]) => Object.fromEntries(URLS.map((u) => [u, xs.filter((x) => x === u).length]));

describe('server URLs given at enrollment', () => {
  it('are https origins, in the order given, without repeats', () => {
    expect(parseServerUrls('https://node-a:8443, https://node-b:8443/,https://node-a:8443')).toEqual(['https://node-a:8443', 'https://node-b:8443']);
    expect(parseServerUrls(['https://node-a:8443/some/path'])).toEqual(['https://node-a:8443']);
  });

  it('name the bad one', () => {
    expect(() => parseServerUrls('https://node-a:8443,http://node-b:8080')).toThrow("'http://node-b:8080' is not an https URL");
    expect(() => parseServerUrls('https://node-a:8443,node-b')).toThrow("'node-b' is not a URL");
    expect(() => parseServerUrls(' , ')).toThrow(/No server URL/);
  });
});

describe('home server', () => {
  it('is the same on every run and whatever order the URLs were given in', () => {
    const id = machine(1);
    const order = rankServers(id, URLS);
    expect(order).toHaveLength(3);
    expect(new Set(order)).toEqual(new Set(URLS));
    expect(rankServers(id, [...URLS].reverse())).toEqual(order);
    expect(new ServerChoice(id, [...URLS].reverse(), { reconnectMaxSeconds: 60, returnHomeSeconds: { min: 30, max: 120 } }).home).toBe(order[0]);
  });

  it('spreads a fleet evenly over the nodes, and the agents of a node that is gone evenly over the others', () => {
    const ids = Array.from({ length: 3000 }, (_, i) => machine(i));
    const homes = count(ids.map((id) => rankServers(id, URLS)[0]!));
    for (const n of Object.values(homes)) expect(n).toBeGreaterThan(850);
    // Node C is gone: the agents homed there move on, half to A and half to B.
    const movers = ids.filter((id) => rankServers(id, URLS)[0] === URLS[2]).map((id) => rankServers(id, URLS)[1]!);
    const moved = count(movers);
    expect(moved[URLS[0]!]! / movers.length).toBeGreaterThan(0.4);
    expect(moved[URLS[1]!]! / movers.length).toBeGreaterThan(0.4);
    // Taking C off the list changes no one else's home.
    for (const id of ids.slice(0, 300)) if (rankServers(id, URLS)[0] !== URLS[2]) expect(rankServers(id, URLS.slice(0, 2))[0]).toBe(rankServers(id, URLS)[0]);
  });
});

describe('moving between servers', () => {
  const choice = (random: () => number) => new ServerChoice(machine(7), URLS, { reconnectMaxSeconds: 60, returnHomeSeconds: { min: 30, max: 120 }, random });

  it('starts at home, moves to the next server on each failure with a growing, jittered backoff, and wraps around', () => {
    const c = choice(() => 1);
    const order = c.order;
    expect([c.current, c.atHome]).toEqual([order[0], true]);
    expect(c.failed()).toEqual({ url: order[1], waitMs: 1500 });
    expect(c.atHome).toBe(false);
    expect(c.failed()).toEqual({ url: order[2], waitMs: 2500 });
    expect(c.failed()).toEqual({ url: order[0], waitMs: 4500 });
    expect(choice(() => 0).failed().waitMs).toBe(500);
    // Connected: the backoff starts over.
    c.connected();
    expect(c.failed().waitMs).toBe(1500);
  });

  it('asks HTTP requests to go to the current server first, then the others', () => {
    const c = choice(() => 0.5);
    c.failed();
    expect(c.preferred()).toEqual([c.order[1], c.order[2], c.order[0]]);
  });

  it('at home, plans no return; away, tries home again after a random wait in the window', () => {
    let r = 0;
    const c = choice(() => r);
    expect(c.connected()).toBeNull();
    c.failed();
    expect(c.connected()).toBe(30_000);
    r = 1;
    expect(c.connected()).toBe(120_000);
    expect(c.homeRetryMs()).toBe(120_000);
    c.returnHome();
    expect([c.current, c.atHome, c.connected()]).toEqual([c.order[0], true, null]);
  });

  it('spreads the agents of a node that restarts over the whole window', () => {
    const delays = Array.from({ length: 2000 }, () => returnHomeDelayMs({ min: 30, max: 120 }));
    expect(Math.min(...delays)).toBeGreaterThanOrEqual(30_000);
    expect(Math.max(...delays)).toBeLessThanOrEqual(120_000);
    // No ten seconds of the window takes much more than its share (2000 / 9 ≈ 222).
    for (let s = 30; s < 120; s += 10) expect(delays.filter((d) => d >= s * 1000 && d < (s + 10) * 1000).length).toBeLessThan(300);
  });
});

describe('HTTP requests', () => {
  it('stick to the server that answered and move on from one that did not', () => {
    const c = new ServerCursor(['https://a', 'https://b']);
    expect(c.current).toBe('https://a');
    c.failed('https://b');
    expect(c.current).toBe('https://a');
    c.failed('https://a');
    expect(c.current).toBe('https://b');
    c.failed('https://b');
    expect(c.current).toBe('https://a');
  });
});
