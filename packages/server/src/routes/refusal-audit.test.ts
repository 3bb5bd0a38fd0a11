import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

/**
 * Every request a signed-in user makes that changes something is audited, refused ones included
 * (and every permission refusal, even of a read); requests nobody could be identified for are
 * counted in metrics, never written to the audit log under a name the caller chose.
 */
let h: Harness;
let machine: string;
beforeEach(async () => {
  h = await startHarness();
  machine = await h.enroll();
});
afterEach(async () => {
  await h.close();
});

type Record_ = { actor: string; action: string; targetType: string; targetId: string | null; comment: string | null; outcome: string; detail: { status?: number; reason?: string } | null };
const audit = async (): Promise<Record_[]> => (await h.call('GET', '/api/audit?$top=1000')).body.value;
const refused = async () => (await audit()).filter((a) => a.outcome === 'Refused');
const metric = async (name: string) => {
  const text = (await h.server.app.inject({ method: 'GET', url: '/metrics' })).body;
  return text
    .split('\n')
    .filter((l) => l.startsWith(name))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
};

describe('refused requests are audited', () => {
  it('audits a permission refusal with actor, action, target, comment and outcome', async () => {
    const r = await h.call('POST', `/api/machines/${machine}/isolate`, { token: h.tokens.viewer, body: { Comment: 'contain it', IsolationType: 'Full' } });
    expect(r.status).toBe(403);
    expect(await refused()).toEqual([expect.objectContaining({ actor: 'viewer-user', action: 'Isolate', targetType: 'machine', targetId: machine, comment: 'contain it', outcome: 'Refused', detail: expect.objectContaining({ status: 403 }) })]);
    // A refused read is a probe too.
    expect((await h.call('GET', '/api/audit', { token: h.tokens.responder })).status).toBe(403);
    expect((await refused()).map((a) => [a.actor, a.action])).toContainEqual(['responder-user', 'GET /api/audit']);
  });

  it('audits a submission to an unknown machine (404), an unknown action to cancel and a body that does not validate', async () => {
    expect((await h.call('POST', '/api/machines/nope/isolate', { token: h.tokens.responder, body: { Comment: 'contain it', IsolationType: 'Full' } })).status).toBe(404);
    expect((await h.call('POST', '/api/machineactions/00000000-0000-4000-8000-000000000000/cancel', { body: { Comment: 'stop' } })).status).toBe(404);
    expect((await h.call('POST', `/api/machines/${machine}/tags`, { body: { Value: '', Action: 'Add' } })).status).toBe(400);
    const r = await refused();
    expect(r).toContainEqual(expect.objectContaining({ actor: 'responder-user', action: 'Isolate', targetType: 'machine', targetId: 'nope', comment: 'contain it', detail: expect.objectContaining({ status: 404 }) }));
    expect(r).toContainEqual(expect.objectContaining({ action: 'POST /api/machineactions/:id/cancel', targetType: 'action', targetId: '00000000-0000-4000-8000-000000000000', comment: 'stop' }));
    expect(r).toContainEqual(expect.objectContaining({ action: 'POST /api/machines/:id/tags', targetType: 'machine', targetId: machine, detail: expect.objectContaining({ status: 400 }) }));
  });

  it('writes one record for a refusal the service already audited', async () => {
    await h.call('POST', `/api/machines/${machine}/refreshInventory`, { body: { Comment: 'first' } });
    expect((await h.call('POST', `/api/machines/${machine}/refreshInventory`, { body: { Comment: 'second' } })).status).toBe(400);
    expect((await refused()).filter((a) => a.action === 'RefreshInventory')).toHaveLength(1);
  });

  it('counts unauthenticated noise in metrics and writes no audit record for it', async () => {
    const before = (await audit()).length;
    const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
    for (let i = 0; i < 20; i++) {
      const bad = await h.server.app.inject({ method: 'POST', url: '/oauth2/v2.0/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form({ grant_type: 'client_credentials', client_id: `attacker-name-${i}`, client_secret: 'x' }) });
      expect(bad.statusCode).toBe(401);
      expect((await h.server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username: `made-up-${i}`, password: 'whatever-password' } })).statusCode).toBe(401);
      expect((await h.call('GET', '/api/machines', { token: `cdn_made_up_${i}` })).status).toBe(401);
    }
    await expect(h.server.services.enrollment.enroll('not-a-token', (await import('../testing/harness.js')).inventory())).rejects.toThrow(/not valid/);
    expect((await audit()).length).toBe(before);
    expect(await metric('cordon_unauthenticated_requests_total')).toBeGreaterThanOrEqual(60);
  });

  it('still audits failures that name a real account: a wrong password, a wrong app secret', async () => {
    const app = await h.call('POST', '/api/apps', { body: { role: 'viewer', name: 'soar' } });
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: app.body.clientId, client_secret: 'wrong' }).toString();
    expect((await h.server.app.inject({ method: 'POST', url: '/oauth2/v2.0/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form })).statusCode).toBe(401);
    expect((await h.server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username: 'admin', password: 'wrong-password' } })).statusCode).toBe(401);
    const failed = (await audit()).filter((a) => a.outcome === 'Failed');
    expect(failed).toContainEqual(expect.objectContaining({ actor: 'app:soar', action: 'IssueAccessToken', targetId: app.body.clientId }));
    expect(failed).toContainEqual(expect.objectContaining({ actor: 'admin', action: 'SignIn' }));
  });
});
