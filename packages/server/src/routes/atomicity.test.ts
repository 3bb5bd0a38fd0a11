import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { failInserts } from '../testing/faults.js';
import { startHarness, type Harness } from '../testing/harness.js';

/**
 * Every state change is stored with its audit record and timeline event in one transaction: when
 * the audit log refuses a write (a full disk, a broken store), the change is not stored either and
 * the request fails without having committed anything.
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

let heal: () => Promise<void>;
const failAudit = async () => void (heal = await failInserts(h.server.db, 'audit_log'));
const healAudit = () => heal();
const count = async (table: string) => Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(table)}`.execute(h.server.db)).rows[0]!.n);
const snapshot = async () => ({
  tags: await count('machine_tags'),
  timeline: await count('timeline'),
  tokens: await count('tokens'),
  apps: await count('apps'),
  enrollmentTokens: await count('enrollment_tokens'),
  policies: await count('isolation_policies'),
  releaseTokens: await count('release_tokens'),
  machines: await count('machines'),
  cancelled: Number((await sql<{ n: number }>`select count(*) as n from actions where status = 'Cancelled'`.execute(h.server.db)).rows[0]!.n),
  revoked: Number(
    (await sql<{ n: number }>`select (select count(*) from tokens where revoked_at is not null) + (select count(*) from apps where revoked_at is not null) + (select count(*) from enrollment_tokens where revoked_at is not null) + (select count(*) from users where disabled_at is not null) + (select count(*) from machines where credential_revoked_at is not null) as n`.execute(h.server.db)).rows[0]!.n,
  ),
  sessions: await count('sessions'),
});

describe('atomic state changes', () => {
  const cases: [string, () => Promise<{ status: number }>][] = [
    ['tag one machine', () => h.call('POST', `/api/machines/${machine}/tags`, { body: { Value: 'prod', Action: 'Add' } })],
    ['tag several machines', () => h.call('POST', '/api/machines/AddOrRemoveTagForMultipleMachines', { body: { Value: 'prod', Action: 'Add', MachineIds: [machine] } })],
    ['create an API token', () => h.call('POST', '/api/tokens', { body: { role: 'viewer', name: 'ci' } })],
    ['register an app', () => h.call('POST', '/api/apps', { body: { role: 'viewer', name: 'soar' } })],
    ['create an enrollment token', () => h.call('POST', '/api/enrollmentTokens')],
    ['set the global isolation policy', () => h.call('PUT', '/api/isolationPolicies/global', { body: { comment: 'dns', allow: [{ destination: '10.0.0.53:53' }] } })],
    ['issue a release token', () => h.call('POST', `/api/machines/${machine}/releaseToken`, { body: { Comment: 'offline device' } })],
  ];
  for (const [what, request] of cases) {
    it(`does not ${what} without its audit record`, async () => {
      const before = await snapshot();
      await failAudit();
      const r = await request();
      expect(r.status).toBeGreaterThanOrEqual(500);
      await healAudit();
      expect(await snapshot()).toEqual(before);
    });
  }

  it('does not cancel an action or delete a policy without its audit record', async () => {
    const put = await h.call('PUT', '/api/isolationPolicies/tags/web', { body: { comment: 'web', allow: [{ unit: 'nginx.service' }] } });
    expect(put.status).toBe(200);
    const a = await h.call('POST', `/api/machines/${machine}/refreshInventory`, { body: { Comment: 'check' } });
    const before = await snapshot();
    await failAudit();
    expect((await h.call('POST', `/api/machineactions/${a.body.id}/cancel`, { body: { Comment: 'not needed' } })).status).toBeGreaterThanOrEqual(500);
    expect((await h.call('DELETE', '/api/isolationPolicies/tags/web', { body: { Comment: 'gone' } })).status).toBeGreaterThanOrEqual(500);
    await healAudit();
    expect(await snapshot()).toEqual(before);
    expect((await h.call('GET', `/api/machineactions/${a.body.id}`)).body.status).toBe('Pending');
  });

  it('revokes nothing without its audit record: tokens, apps, users, enrollment tokens, device credentials', async () => {
    const token = (await h.call('POST', '/api/tokens', { body: { role: 'viewer', name: 'ci' } })).body as { id: string; token: string };
    const app = (await h.call('POST', '/api/apps', { body: { role: 'viewer', name: 'soar' } })).body as { clientId: string };
    const enrollment = (await h.call('POST', '/api/enrollmentTokens')).body as { id: string };
    await h.server.services.users.createUser('alice', 'correct horse battery', 'viewer', 'test');
    expect((await h.server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username: 'alice', password: 'correct horse battery' } })).statusCode).toBe(200);
    const before = await snapshot();
    await failAudit();
    for (const [method, url] of [
      ['DELETE', `/api/tokens/${token.id}`],
      ['DELETE', `/api/apps/${app.clientId}`],
      ['DELETE', `/api/enrollmentTokens/${enrollment.id}`],
      ['DELETE', '/api/users/alice'],
      ['POST', `/api/machines/${machine}/revokeCredential`],
    ] as const) {
      expect((await h.call(method, url, { body: { Comment: 'revoke' } })).status, url).toBeGreaterThanOrEqual(500);
    }
    await healAudit();
    expect(await snapshot()).toEqual(before);
    expect((await h.call('GET', '/api/machines', { token: token.token })).status).toBe(200);
  });

  it('does not enroll a device without its audit record', async () => {
    const before = await snapshot();
    await failAudit();
    await expect(h.enroll({ hostname: 'web-02' })).rejects.toThrow();
    await healAudit();
    expect(await snapshot()).toEqual(before);
  });

  it('does not store an agent refusal half-way', async () => {
    const a = await h.call('POST', `/api/machines/${machine}/refreshInventory`, { body: { Comment: 'check' } });
    const before = await snapshot();
    await failAudit();
    await expect(h.server.services.agentReports.agentRefused(machine, a.body.id, 'BadSignature', 'signature does not verify')).rejects.toThrow();
    await healAudit();
    expect(await snapshot()).toEqual(before);
    expect((await h.call('GET', `/api/machineactions/${a.body.id}`)).body.status).toBe('Pending');
  });

  it('never answers 500 after committing: a bulk submission whose summary record fails still answers its actions', async () => {
    await failInserts(h.server.db, 'audit_log', { column: 'action', like: 'Bulk%' });
    const r = await h.call('POST', '/api/machineactions/bulk', { body: { Type: 'RefreshInventory', MachineIds: [machine], Comment: 'all of them' } });
    expect(r.status).toBe(201);
    expect(r.body.value).toHaveLength(1);
    expect((await h.call('GET', `/api/machineactions/${r.body.value[0].id}`)).body.status).toBe('Pending');
    const metrics = (await h.server.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('cordon_audit_write_failures_total 1');
  });

  it('audits a bulk submission cut short by the store: every action it stored is in the record, with the failure', async () => {
    // 1,200 devices (copies of the enrolled one): three chunks, the second of which the store refuses.
    const row = await h.server.db.selectFrom('machines').selectAll().where('id', '=', machine).executeTakeFirstOrThrow();
    const ids = [machine, ...Array.from({ length: 1199 }, (_, i) => `e${(i + 1).toString(16).padStart(39, '0')}`)];
    for (let i = 1; i < ids.length; i += 200) await h.server.db.insertInto('machines').values(ids.slice(i, i + 200).map((id) => ({ ...row, id, computer_dns_name: `copy-${id.slice(-4)}` }))).execute();
    await failInserts(h.server.db, 'actions', { column: 'machine_id', like: ids[600]! });
    const r = await h.call('POST', '/api/machineactions/bulk', { body: { Type: 'RefreshInventory', MachineIds: ids, Comment: 'fleet sweep' } });
    expect(r.status).toBe(500);
    const stored = (await h.server.db.selectFrom('actions').select(['id', 'machine_id']).execute()).map((a) => a.id);
    // The first chunk is stored; the refused one not at all (one transaction); the third was maybe under way.
    expect([500, 700]).toContain(stored.length);
    const summary = (await h.call('GET', '/api/audit?$top=5')).body.value.find((e: { action: string }) => e.action === 'BulkRefreshInventory');
    expect(summary).toMatchObject({ outcome: 'Failed', comment: 'fleet sweep', detail: { error: expect.stringMatching(/disk full/) } });
    expect(summary.detail.actions.map((a: { actionId: string }) => a.actionId).sort()).toEqual(stored.sort());
  });

  it('does not store an agent result or a time-out without its timeline event', async () => {
    const a = await h.call('POST', `/api/machines/${machine}/refreshInventory`, { body: { Comment: 'check' } });
    const healTimeline = await failInserts(h.server.db, 'timeline');
    await expect(h.server.services.agentReports.agentResult(machine, a.body.id, 'Succeeded', null, null)).rejects.toThrow();
    h.clock.advance(4 * 86400_000);
    await expect(h.server.services.actionExpiry.sweepExpired()).rejects.toThrow();
    await healTimeline();
    expect((await h.call('GET', `/api/machineactions/${a.body.id}`)).body.status).toBe('Pending');
  });
});
