import { failInserts } from '../testing/faults.js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const refresh = (h: Harness, id: string, body: unknown = { Comment: 'check inventory' }, token?: string) => h.call('POST', `/api/machines/${id}/refreshInventory`, { body, token });

describe('machine actions', () => {
  it('submits an action as Pending (201) with the MDE fields, and lists and gets it', async () => {
    const id = await h.enroll();
    const r = await refresh(h, id, { Comment: 'check inventory' }, h.tokens.responder);
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ type: 'RefreshInventory', status: 'Pending', machineId: id, computerDnsName: 'web-01', requestor: 'responder-user', requestorComment: 'check inventory', errorHResult: 0, cancellationRequestor: null, error: null, result: null, commands: [] });
    expect(r.body.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect((await h.call('GET', `/api/machineactions/${r.body.id}`)).body.status).toBe('Pending');
    const list = await h.call('GET', `/api/machineactions?$filter=${encodeURIComponent(`status eq 'Pending' and machineId eq '${id}'`)}`);
    expect(list.body.value.map((a: { id: string }) => a.id)).toEqual([r.body.id]);
    const tl = await h.call('GET', `/api/machines/${id}/timeline`);
    expect(tl.body.value[0]).toMatchObject({ eventType: 'ActionSubmitted', actionId: r.body.id, actor: 'responder-user' });
  });

  it('stores an action with its audit record and timeline event, or none of them (one transaction)', async () => {
    const id = await h.enroll();
    // The audit log refuses writes (a full disk, a broken store): the action must not be stored without its record.
    const heal = await failInserts(h.server.db, 'audit_log');
    const r = await refresh(h, id);
    expect(r.status).toBe(500);
    await heal();
    expect((await h.call('GET', '/api/machineactions')).body.value).toEqual([]);
    expect((await h.call('GET', `/api/machines/${id}/timeline`)).body.value.filter((e: { eventType: string }) => e.eventType === 'ActionSubmitted')).toEqual([]);
    // And the device is free for the same action once the store works again.
    expect((await refresh(h, id)).status).toBe(201);
  });

  it('ignores progress a device reports for another device\'s action: nothing live, nothing shown', async () => {
    const id = await h.enroll();
    const other = await h.enroll({ hostname: 'web-02' });
    const a = (await refresh(h, id)).body;
    await h.server.services.agentReports.agentAck(id, a.id);
    const events: unknown[] = [];
    const off = h.server.hub.subscribe((e) => void events.push(e));
    await h.server.services.agentReports.agentProgress(other, a.id, 42, 'forged');
    off();
    expect(events).toEqual([]);
    expect((await h.call('GET', `/api/machineactions/${a.id}`)).body.progress ?? null).toBeNull();
    await h.server.services.agentReports.agentProgress(id, a.id, 50, 'half way');
    expect((await h.call('GET', `/api/machineactions/${a.id}`)).body.progress).toMatchObject({ percent: 50, message: 'half way' });
  });

  it('shows a running action\'s progress in the list too, as the Action center and the device\'s Actions tab read it', async () => {
    const id = await h.enroll();
    const a = (await refresh(h, id)).body;
    await h.server.services.agentReports.agentAck(id, a.id);
    await h.server.services.agentReports.agentProgress(id, a.id, 29, 'Collecting Processes (5/13)');
    const list = await h.call('GET', `/api/machineactions?$filter=${encodeURIComponent(`machineId eq '${id}'`)}`);
    expect(list.body.value[0]).toMatchObject({ id: a.id, status: 'InProgress', progress: { percent: 29, message: 'Collecting Processes (5/13)' } });
  });

  it('names the first admin one way, by token or signed in, and finds requestors by the start of their name in any case', async () => {
    const [a, b, c] = [await h.enroll({ hostname: 'a' }), await h.enroll({ hostname: 'b' }), await h.enroll({ hostname: 'c' })];
    expect((await refresh(h, a)).body.requestor).toBe('admin');
    const signIn = await h.call('POST', '/api/auth/signin', { token: null, body: { username: 'admin', password: h.server.initialAdminPassword } });
    const session = { token: null, headers: { cookie: String(signIn.headers['set-cookie']).split(';')[0]!, 'x-csrf-token': signIn.body.csrfToken } };
    expect((await h.call('POST', `/api/machines/${b}/refreshInventory`, { ...session, body: { Comment: 'from the console' } })).body.requestor).toBe('admin');
    expect((await h.call('GET', '/api/auth/me')).body.name).toBe((await h.call('GET', '/api/auth/me', session)).body.name);
    await refresh(h, c, { Comment: 'x' }, h.tokens.responder);
    const by = async (filter: string) => (await h.call('GET', `/api/machineactions?$filter=${encodeURIComponent(filter)}`)).body.value.map((x: { computerDnsName: string }) => x.computerDnsName).sort();
    expect(await by("startswith(requestor,'ADM')")).toEqual(['a', 'b']);
    expect(await by("startswith(requestor,'Resp')")).toEqual(['c']);
    expect(await by("startswith(requestor,'min')")).toEqual([]);
  });

  it("gives an action's every state change with its time and actor, and the timeline gives each action event its comment", async () => {
    const id = await h.enroll();
    const done = (await refresh(h, id, { Comment: 'after the alert' }, h.tokens.responder)).body;
    await h.server.services.agentReports.agentAck(id, done.id);
    await h.server.services.agentReports.agentResult(id, done.id, 'Succeeded', null, { changed: false });
    const detail = (await h.call('GET', `/api/machineactions/${done.id}`)).body;
    expect(detail.stateChanges.map((c: { status: string; actor: string | null; comment: string | null }) => [c.status, c.actor, c.comment])).toEqual([
      ['Pending', 'responder-user', 'after the alert'],
      ['InProgress', null, null],
      ['Succeeded', null, null],
    ]);
    for (const c of detail.stateChanges) expect(Date.parse(c.time)).not.toBeNaN();
    // The list stays as MDE's: no per-row history.
    expect((await h.call('GET', '/api/machineactions')).body.value[0].stateChanges).toBeUndefined();

    const other = await h.enroll({ hostname: 'web-02' });
    const cancelled = (await refresh(h, other, { Comment: 'wrong host' })).body;
    await h.call('POST', `/api/machineactions/${cancelled.id}/cancel`, { body: { Comment: 'meant web-01' }, token: h.tokens.responder });
    const changes = (await h.call('GET', `/api/machineactions/${cancelled.id}`)).body.stateChanges;
    expect(changes.map((c: { status: string; comment: string | null }) => [c.status, c.comment])).toEqual([
      ['Pending', 'wrong host'],
      ['Cancelled', 'meant web-01'],
    ]);
    expect(changes[1].actor).toBe('responder-user');

    const tl = (await h.call('GET', `/api/machines/${id}/timeline`)).body.value as { actionId: string | null; actionComment: string | null }[];
    const ofAction = tl.filter((e) => e.actionId === done.id);
    expect(ofAction.length).toBe(3);
    for (const e of ofAction) expect(e.actionComment).toBe('after the alert');
    for (const e of tl.filter((x) => x.actionId === null)) expect(e.actionComment).toBeNull();
  });

  it('refuses a second identical action with the exact MDE error body', async () => {
    const id = await h.enroll();
    expect((await refresh(h, id)).status).toBe(201);
    const dup = await refresh(h, id);
    expect(dup.status).toBe(400);
    expect(dup.text).toBe(`{"error":{"code":"ActiveRequestAlreadyExists","message":"Action is already in progress","target":"${id}"}}`);
  });

  it('answers NotSupported saying in plain words why the agent cannot: an old agent, a missing capability', async () => {
    const old = await h.enroll({ agentVersion: '0.1.0' });
    const r = await h.call('POST', `/api/machines/${old}/isolate`, { body: { Comment: 'contain', IsolationType: 'Full' } });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'NotSupported', message: "Isolate device: this device's agent (0.1.0) is too old; it needs 0.2.0 or later" });
    const older = await h.enroll({ agentVersion: '0.0.9' });
    expect((await refresh(h, older)).body.error).toMatchObject({ code: 'NotSupported', message: "Refresh inventory: this device's agent (0.0.9) is too old; it needs 0.1.0 or later" });
    const current = await h.enroll({ agentVersion: '0.2.0' });
    const scan = await h.call('POST', `/api/machines/${current}/runAntiVirusScan`, { body: { Comment: 'sweep', ScanType: 'Quick' } });
    expect(scan.body.error).toMatchObject({ code: 'NotSupported', message: "Run antivirus scan: this device's agent cannot scan yet" });
    const audit = await h.call('GET', '/api/audit');
    expect(audit.body.value.some((a: { outcome: string; action: string }) => a.outcome === 'Refused' && a.action === 'Isolate')).toBe(true);
  });

  it('validates every action body and changes nothing on bad input', async () => {
    const id = await h.enroll({ capabilities: [{ name: 'inventory', version: '1' }, { name: 'isolation', version: '1' }], agentVersion: '0.2.0' });
    const cases: [string, unknown, string][] = [
      ['refreshInventory', {}, 'Comment'],
      ['refreshInventory', { Comment: '   ' }, 'Comment'],
      ['refreshInventory', { Comment: 'x'.repeat(4001) }, 'Comment'],
      ['refreshInventory', { Comment: 42 }, 'Comment'],
      ['refreshInventory', { Comment: 'ok', Bogus: true }, 'Bogus'],
      ['refreshInventory', { Comment: 'ok', comment: 'twice' }, 'comment'],
      ['isolate', { Comment: 'ok', IsolationType: 'Partial' }, 'IsolationType'],
      ['isolate', { Comment: 'ok' }, 'IsolationType'],
      ['refreshInventory', [1, 2], 'body'],
      ['refreshInventory', '{"Comment": "unterminated', 'body'],
      // PostgreSQL refuses NUL in text: refused up front on both stores (it was a 500 there).
      ['refreshInventory', { Comment: 'a\u0000b' }, 'Comment'],
      ['isolate', { Comment: 'ok', IsolationType: 'Full', Extra: { deep: ['x\u0000'] } }, 'Extra.deep.0'],
      // File hashes are hex of the right length; Cordon's Path is absolute; a quarantine id is a UUID.
      ['StopAndQuarantineFile', { Comment: 'ok', Sha256: 'ab'.repeat(31) }, 'Sha256'],
      ['StopAndQuarantineFile', { Comment: 'ok', Sha256: 'g'.repeat(64) }, 'Sha256'],
      ['StopAndQuarantineFile', { Comment: 'ok', Sha1: 'ab'.repeat(32) }, 'Sha1'],
      ['StopAndQuarantineFile', { Comment: 'ok' }, 'Sha256'],
      ['StopAndQuarantineFile', { Comment: 'ok', Sha1: 'ab'.repeat(20), Path: '/tmp/../etc/shadow' }, 'Path'],
      ['restoreQuarantinedFile', { Comment: 'ok', QuarantineId: '../../etc' }, 'QuarantineId'],
    ];
    for (const [path, body, target] of cases) {
      const r = await h.call('POST', `/api/machines/${id}/${path}`, { body, headers: { 'content-type': 'application/json' } });
      expect(r.status, `${path} ${String(JSON.stringify(body)).slice(0, 60)}`).toBe(400);
      expect(r.body.error.code).toBe('InvalidRequestBody');
      expect(r.body.error.target, JSON.stringify(r.body)).toBe(target);
      expect(r.body.error.message.length).toBeGreaterThan(5);
    }
    // A body over the limit is too large, whatever it says (413, not a validation error).
    const big = await h.call('POST', `/api/machines/${id}/refreshInventory`, { body: JSON.stringify({ Comment: 'x', Pad: 'y'.repeat(2 * 1024 * 1024) }), headers: { 'content-type': 'application/json' } });
    expect(big.status).toBe(413);
    expect(big.body.error).toMatchObject({ code: 'PayloadTooLarge', target: 'body' });
    expect((await h.call('GET', '/api/machineactions')).body.value).toEqual([]);
  });

  it('only lets responders and admins act; viewers and analysts read', async () => {
    const id = await h.enroll();
    expect((await refresh(h, id, undefined, h.tokens.viewer)).status).toBe(403);
    expect((await refresh(h, id, undefined, h.tokens.analyst)).status).toBe(403);
    expect((await refresh(h, id, { Comment: 'x' }, 'cdn_not-a-token')).status).toBe(401);
    expect((await h.call('GET', '/api/machineactions', { token: h.tokens.viewer })).status).toBe(200);
    expect((await refresh(h, id, undefined, h.tokens.admin)).status).toBe(201);
  });

  it('cancels a pending action once, records who and why, and refuses to cancel it again', async () => {
    const id = await h.enroll();
    const a = (await refresh(h, id)).body;
    const c = await h.call('POST', `/api/machineactions/${a.id}/cancel`, { body: { Comment: 'wrong device' }, token: h.tokens.responder });
    expect(c.status).toBe(200);
    expect(c.body).toMatchObject({ status: 'Cancelled', cancellationRequestor: 'responder-user', cancellationComment: 'wrong device' });
    expect(c.body.cancellationDateTimeUtc).toBeTruthy();
    const again = await h.call('POST', `/api/machineactions/${a.id}/cancel`, { body: { Comment: 'again' } });
    expect(again.status).toBe(400);
    expect(again.body.error.message).toContain('Cancelled');
    expect((await h.call('POST', `/api/machineactions/${a.id}/cancel`, { body: {} })).body.error.target).toBe('Comment');
    expect((await h.call('POST', `/api/machineactions/00000000-0000-4000-8000-000000000000/cancel`, { body: { Comment: 'x' } })).status).toBe(404);
    // A new action of the same type may be submitted once the first is no longer active.
    expect((await refresh(h, id)).status).toBe(201);
  });

  it('times out pending actions after the expiry', async () => {
    const id = await h.enroll();
    const a = (await refresh(h, id)).body;
    h.clock.advance(3 * 86400_000 - 1000);
    expect(await h.server.services.actionExpiry.sweepExpired()).toBe(0);
    h.clock.advance(2000);
    expect(await h.server.services.actionExpiry.sweepExpired()).toBe(1);
    const got = (await h.call('GET', `/api/machineactions/${a.id}`)).body;
    expect(got.status).toBe('TimeOut');
    expect(got.error).toContain('expired');
  });

  it('moves through InProgress to Succeeded on the agent messages, ignoring messages about other machines', async () => {
    const id = await h.enroll();
    const other = await h.enroll({ hostname: 'other' });
    const a = (await refresh(h, id)).body;
    const reports = h.server.services.agentReports;
    await reports.agentAck(other, a.id);
    expect((await h.call('GET', `/api/machineactions/${a.id}`)).body.status).toBe('Pending');
    await reports.agentAck(id, a.id);
    expect((await h.call('GET', `/api/machineactions/${a.id}`)).body.status).toBe('InProgress');
    await reports.agentResult(id, a.id, 'Succeeded', null, { hostname: 'web-01' });
    await reports.agentResult(id, a.id, 'Failed', 'late duplicate', null);
    const done = (await h.call('GET', `/api/machineactions/${a.id}`)).body;
    expect(done).toMatchObject({ status: 'Succeeded', errorHResult: 0, result: { hostname: 'web-01' }, error: null });
    const b = (await refresh(h, id)).body;
    await reports.agentResult(id, b.id, 'Failed', 'disk full', null);
    expect((await h.call('GET', `/api/machineactions/${b.id}`)).body).toMatchObject({ status: 'Failed', error: 'disk full', errorHResult: -2147467259 });
    const states = (await h.call('GET', `/api/machines/${id}/timeline?eventType=ActionStateChanged`)).body.value.map((e: { data: { status: string } }) => e.data.status);
    expect(states).toEqual(['Failed', 'Succeeded', 'InProgress']);
  });

  it('submits one action to many machines by id or by tag, skipping those that cannot take it', async () => {
    const a = await h.enroll({ hostname: 'a' });
    const b = await h.enroll({ hostname: 'b' });
    const old = await h.enroll({ hostname: 'old', agentVersion: '0.0.1' });
    await refresh(h, b);
    const r = await h.call('POST', '/api/machineactions/bulk', { body: { Type: 'RefreshInventory', Comment: 'fleet sweep', MachineIds: [a, b, old, 'f'.repeat(40)] } });
    expect(r.status).toBe(201);
    expect(r.body.value.map((x: { machineId: string }) => x.machineId)).toEqual([a]);
    expect(r.body.skipped.map((x: { machineId: string; code: string }) => [x.machineId, x.code]).sort()).toEqual(
      [[b, 'ActiveRequestAlreadyExists'], [old, 'NotSupported'], ['f'.repeat(40), 'ResourceNotFound']].sort(),
    );
    await h.call('POST', `/api/machines/${a}/tags`, { body: { Value: 'wave2', Action: 'Add' } });
    const c = await h.enroll({ hostname: 'c' });
    await h.call('POST', `/api/machines/${c}/tags`, { body: { Value: 'wave2', Action: 'Add' } });
    const byTag = await h.call('POST', '/api/machineactions/bulk', { body: { Type: 'RefreshInventory', Comment: 'by tag', Filter: "machineTags/any(t: t eq 'wave2')" } });
    expect(byTag.body.value.map((x: { machineId: string }) => x.machineId)).toEqual([c]);
    expect(byTag.body.skipped).toEqual([{ machineId: a, code: 'ActiveRequestAlreadyExists', message: 'Action is already in progress' }]);
    const audit = (await h.call('GET', '/api/audit')).body.value.filter((x: { action: string }) => x.action === 'BulkRefreshInventory');
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({ comment: 'by tag', outcome: 'Succeeded', detail: { actions: [{ machineId: c, actionId: byTag.body.value[0].id }], skipped: [{ machineId: a }] } });
    // Each device still gets its own timeline entry.
    expect((await h.call('GET', `/api/machines/${c}/timeline`)).body.value[0]).toMatchObject({ eventType: 'ActionSubmitted', actionId: byTag.body.value[0].id });
  });

  it('validates bulk submissions and changes nothing on bad input', async () => {
    const a = await h.enroll();
    const before = (await h.call('GET', '/api/machineactions')).body.value.length;
    const cases: [unknown, string][] = [
      [{ Type: 'RefreshInventory', MachineIds: [a] }, 'Comment'],
      [{ Type: 'Nope', Comment: 'x', MachineIds: [a] }, 'Type'],
      [{ Type: 'RefreshInventory', Comment: 'x' }, 'MachineIds'],
      [{ Type: 'RefreshInventory', Comment: 'x', MachineIds: [a], Filter: "osPlatform eq 'Linux'" }, 'MachineIds'],
      [{ Type: 'Isolate', Comment: 'x', MachineIds: [a], IsolationType: 'Half' }, 'IsolationType'],
      [{ Type: 'RefreshInventory', Comment: 'x', MachineIds: [a], Extra: 1 }, 'Extra'],
      [{ Type: 'RefreshInventory', Comment: 'x', Filter: "nosuch eq 'y'" }, '$filter'],
    ];
    for (const [body, target] of cases) {
      const r = await h.call('POST', '/api/machineactions/bulk', { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.target, JSON.stringify(r.body)).toBe(target);
    }
    expect((await h.call('POST', '/api/machineactions/bulk', { body: { Type: 'RefreshInventory', Comment: 'x', MachineIds: [a] }, token: h.tokens.analyst })).status).toBe(403);
    expect((await h.call('GET', '/api/machineactions')).body.value.length).toBe(before);
  });

  it('does not show an action as cancelled once the agent has acknowledged it, and keeps its real outcome', async () => {
    const id = await h.enroll();
    const a = (await refresh(h, id)).body;
    const acked = h.server.services.agentReports.agentAck(id, a.id); // waiting in the ack batch
    const c = await h.call('POST', `/api/machineactions/${a.id}/cancel`, { body: { Comment: 'too late' } });
    expect(c.status).toBe(400);
    expect(c.body.error.message).toContain('InProgress');
    await acked;
    await h.server.services.agentReports.agentResult(id, a.id, 'Succeeded', null, null);
    const b = (await refresh(h, id)).body;
    await h.call('POST', `/api/machineactions/${b.id}/cancel`, { body: { Comment: 'stop' } });
    // The agent had already started it: its ack and result are the truth.
    await h.server.services.agentReports.agentAck(id, b.id);
    await h.server.services.agentReports.agentResult(id, b.id, 'Succeeded', null, { ok: true });
    expect((await h.call('GET', `/api/machineactions/${b.id}`)).body).toMatchObject({ status: 'Succeeded', cancellationRequestor: 'admin' });
  });

  it('waits for acks already being stored before deciding a cancel (a slow store)', async () => {
    const id = await h.enroll();
    const a = (await refresh(h, id)).body;
    const repo = (h.server.services.agentReports as unknown as { repo: { transitionMany: (...args: unknown[]) => Promise<string[]> } }).repo;
    const transitionMany = repo.transitionMany.bind(repo);
    repo.transitionMany = async (...args: unknown[]) => {
      await new Promise((r) => setTimeout(r, 300));
      return transitionMany(...args);
    };
    const acked = h.server.services.agentReports.agentAck(id, a.id);
    await new Promise((r) => setTimeout(r, 50)); // the batch is being stored now
    const c = await h.call('POST', `/api/machineactions/${a.id}/cancel`, { body: { Comment: 'too late' } });
    expect(c.status).toBe(400);
    await acked;
    expect((await h.call('GET', `/api/machineactions/${a.id}`)).body.status).toBe('InProgress');
  });

  it('applies an ack only for the machine the action belongs to, even in one batch', async () => {
    const owner = await h.enroll({ hostname: 'owner' });
    const other = await h.enroll({ hostname: 'other' });
    const a = (await refresh(h, owner)).body;
    await Promise.all([h.server.services.agentReports.agentAck(owner, a.id), h.server.services.agentReports.agentAck(other, a.id)]);
    expect((await h.call('GET', `/api/machineactions/${a.id}`)).body.status).toBe('InProgress');
  });

  it('ends an expired pending action as TimeOut when its agent connects, instead of sending it', async () => {
    const id = await h.enroll();
    const a = (await refresh(h, id)).body;
    h.clock.advance(3 * 86400_000 + 1000);
    await h.server.services.agentReports.agentConnected(id);
    expect((await h.call('GET', `/api/machineactions/${a.id}`)).body).toMatchObject({ status: 'TimeOut', error: expect.stringContaining('expired') });
  });
});
