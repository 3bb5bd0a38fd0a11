import { request, type IncomingMessage } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
let base: string;
beforeEach(async () => {
  h = await startHarness();
  base = (await h.server.listen()).apiUrl;
});
afterEach(async () => {
  await h.close();
});

/** Opens the event stream over a real HTTP connection and collects its events. */
function stream(path: string, token: string | null, headers: Record<string, string> = {}): Promise<{ res: IncomingMessage; events: { event: string; data: any }[]; close(): void }> {
  return new Promise((resolve, reject) => {
    const req = request(`${base}${path}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } }, (res) => {
      const events: { event: string; data: any }[] = [];
      let buf = '';
      res.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const event = /^event: (.+)$/m.exec(block)?.[1];
          const data = /^data: (.+)$/m.exec(block)?.[1];
          if (event && data) events.push({ event, data: JSON.parse(data) });
        }
      });
      resolve({ res, events, close: () => req.destroy() });
    });
    req.on('error', reject);
    req.end();
  });
}

const until = async (fn: () => boolean) => {
  for (let i = 0; i < 100 && !fn(); i++) await new Promise((r) => setTimeout(r, 20));
  return fn();
};

describe('live updates (server-sent events)', () => {
  it('pushes action and machine changes as they happen, optionally for one machine', async () => {
    const a = await h.enroll({ hostname: 'a' });
    const b = await h.enroll({ hostname: 'b' });
    const all = await stream('/api/events', h.tokens.viewer);
    const onlyA = await stream(`/api/events?machineId=${a}`, h.tokens.viewer);
    expect(all.res.headers['content-type']).toMatch(/^text\/event-stream/);
    await h.call('POST', `/api/machines/${a}/tags`, { body: { Value: 'prod', Action: 'Add' } });
    await h.call('POST', `/api/machines/${b}/tags`, { body: { Value: 'prod', Action: 'Add' } });
    const action = await h.call('POST', `/api/machines/${a}/refreshInventory`, { body: { Comment: 'live' } });
    expect(await until(() => all.events.some((e) => e.event === 'action' && e.data.actionId === action.body.id && e.data.status === 'Pending'))).toBe(true);
    expect(all.events.filter((e) => e.event === 'machine' && e.data.change === 'tags').map((e) => e.data.machineId).sort()).toEqual([a, b].sort());
    expect(await until(() => onlyA.events.some((e) => e.event === 'action'))).toBe(true);
    expect(onlyA.events.every((e) => e.data.machineId === a)).toBe(true);
    all.close();
    onlyA.close();
  });

  it('tells when a device turns Inactive, once, though nothing happened on the device', async () => {
    const a = await h.enroll({ hostname: 'a' });
    const all = await stream('/api/events', h.tokens.viewer);
    await h.server.services.machines.announceInactive(); // the first check only sets the mark
    h.clock.advance(3600_000);
    expect(await h.server.services.machines.announceInactive()).toBe(1);
    expect(await until(() => all.events.some((e) => e.event === 'machine' && e.data.change === 'inactive' && e.data.machineId === a))).toBe(true);
    h.clock.advance(60_000);
    expect(await h.server.services.machines.announceInactive()).toBe(0);
    expect((await h.call('GET', `/api/machines/${a}`)).body.healthStatus).toBe('Inactive');
    all.close();
  });

  it('ends the stream of a session that signed out, within a few seconds', async () => {
    const signIn = await h.call('POST', '/api/auth/signin', { token: null, body: { username: 'admin', password: h.server.initialAdminPassword } });
    const cookie = String(signIn.headers['set-cookie']).split(';')[0]!;
    const s = await stream('/api/events', null, { cookie });
    expect(s.res.statusCode).toBe(200);
    const ended = new Promise<void>((r) => s.res.on('end', () => r()));
    await h.call('POST', '/api/auth/signout', { token: null, headers: { cookie, 'x-csrf-token': signIn.body.csrfToken } });
    await ended; // the test's own timeout bounds the wait (checked every 5 s)
    expect((await h.call('GET', '/api/auth/me', { token: null, headers: { cookie } })).status).toBe(401);
  });

  it('ends open streams when the server shuts down', async () => {
    const s = await stream('/api/events', h.tokens.viewer);
    const ended = new Promise((r) => s.res.on('end', r));
    await h.close();
    await ended;
    // Closed here already: afterEach has nothing left to do.
    h.close = async () => undefined;
  });

  it('needs a signed-in caller', async () => {
    const s = await stream('/api/events', null);
    expect(s.res.statusCode).toBe(401);
    s.close();
  });
});
