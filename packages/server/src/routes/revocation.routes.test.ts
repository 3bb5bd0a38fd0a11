import { request, type IncomingMessage } from 'node:http';
import { sql } from 'kysely';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CredentialsRepository } from '../repositories/credentials.repository.js';
import { sha256, VERIFIED_TOKEN_MS } from '../services/auth.service.js';
import { inventory, startHarness, type Harness } from '../testing/harness.js';

/**
 * Revocation of every credential the server hands out: API tokens, apps (and the access tokens
 * they were issued), console users, enrollment tokens. Lists never show a secret or its hash;
 * a revoked credential fails exactly as an unknown one does; each revocation is audited.
 */
let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const form = (o: Record<string, string>) => new URLSearchParams(o).toString();
const grant = (clientId: string, clientSecret: string) =>
  h.server.app.inject({ method: 'POST', url: '/oauth2/v2.0/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form({ grant_type: 'client_credentials', client_id: clientId, client_secret: clientSecret }) });
const signIn = (username: string, password: string) => h.server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username, password } });
/** Records of changes that happened (refused requests are audited too, as Refused). */
const auditCount = async () => Number((await sql<{ n: number }>`select count(*) as n from audit_log where outcome != 'Refused'`.execute(h.server.db)).rows[0]!.n);
const refusedCount = async () => Number((await sql<{ n: number }>`select count(*) as n from audit_log where outcome = 'Refused'`.execute(h.server.db)).rows[0]!.n);
const lastAudit = async (action?: string) => ((await h.call('GET', '/api/audit?$top=10')).body.value as { action: string }[]).find((a) => !action || a.action === action);

describe('API tokens', () => {
  it('lists tokens without secrets, with who made them and when they were last used (at most once a minute)', async () => {
    const created = await h.call('POST', '/api/tokens', { body: { role: 'viewer', name: 'ci' } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ id: expect.any(String), role: 'viewer' });
    const id = created.body.id as string;
    const secret = created.body.token as string;

    let list = await h.call('GET', '/api/tokens');
    expect(list.status).toBe(200);
    const row = list.body.value.find((t: { id: string }) => t.id === id);
    expect(row).toEqual({ id, name: 'ci', role: 'viewer', kind: 'api', appId: null, createdAt: '2026-11-25T10:00:00.000Z', createdBy: 'admin', lastUsedAt: null, expiresAt: null, revokedAt: null, revokedBy: null });
    const stored = await h.server.db.selectFrom('tokens').select('token_hash').where('id', '=', id).executeTakeFirstOrThrow();
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toContain(stored.token_hash);
    expect(list.text).not.toMatch(/hash|secret/i);

    expect((await h.call('GET', '/api/machines', { token: secret })).status).toBe(200);
    const lastUsed = async () => (await h.call('GET', '/api/tokens')).body.value.find((t: { id: string }) => t.id === id).lastUsedAt;
    expect(await lastUsed()).toBe('2026-11-25T10:00:00.000Z');
    // Used again within the minute: not written again.
    h.clock.advance(30_000);
    expect((await h.call('GET', '/api/machines', { token: secret })).status).toBe(200);
    expect(await lastUsed()).toBe('2026-11-25T10:00:00.000Z');
    h.clock.advance(31_000);
    expect((await h.call('GET', '/api/machines', { token: secret })).status).toBe(200);
    expect(await lastUsed()).toBe('2026-11-25T10:01:01.000Z');
    list = await h.call('GET', '/api/tokens');
    expect(list.body.value.length).toBeGreaterThanOrEqual(5);
  });

  it('revokes a token with a comment: it then fails exactly as an unknown token does, and the revocation is audited', async () => {
    const created = await h.call('POST', '/api/tokens', { body: { role: 'responder', name: 'leaked' } });
    const { id, token } = created.body as { id: string; token: string };
    const unknown = await h.call('GET', '/api/machines', { token: 'cdn_made-up-token' });
    // In use (so the server remembers it as valid) until the moment it is revoked.
    expect((await h.call('GET', '/api/machines', { token })).status).toBe(200);
    const r = await h.call('DELETE', `/api/tokens/${id}`, { body: { Comment: 'posted in a chat' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id, name: 'leaked', revokedAt: '2026-11-25T10:00:00.000Z', revokedBy: 'admin' });
    const refused = await h.call('GET', '/api/machines', { token });
    expect(refused.status).toBe(401);
    expect([refused.text, refused.headers['www-authenticate']]).toEqual([unknown.text, unknown.headers['www-authenticate']]);
    expect(await lastAudit()).toMatchObject({ actor: 'admin', action: 'RevokeApiToken', targetType: 'token', targetId: id, comment: 'posted in a chat', outcome: 'Succeeded' });
    expect((await h.call('GET', '/api/audit/verify')).body.verified).toBe(true);
  });

  it('believes a valid token for at most VERIFIED_TOKEN_MS without asking the store: a revocation behind its back (the CLI on the data directory) holds within that', async () => {
    const { id, token } = (await h.call('POST', '/api/tokens', { body: { role: 'viewer', name: 'sender' } })).body as { id: string; token: string };
    const lookups = vi.spyOn(CredentialsRepository.prototype, 'tokenByHash');
    for (let i = 0; i < 5; i++) expect((await h.call('GET', '/api/machines', { token })).status).toBe(200);
    expect(lookups.mock.calls.filter(([hash]) => hash === sha256(token))).toHaveLength(1);
    await h.server.db.updateTable('tokens').set({ revoked_at: '2026-11-25T10:00:00.000Z', revoked_by: 'cli' }).where('id', '=', id).execute();
    expect((await h.call('GET', '/api/machines', { token })).status).toBe(200);
    await new Promise((r) => setTimeout(r, VERIFIED_TOKEN_MS + 20));
    expect((await h.call('GET', '/api/machines', { token })).status).toBe(401);
    lookups.mockRestore();
  });

  it('refuses a second revocation, an unknown id and a missing comment, changing nothing', async () => {
    const { id } = (await h.call('POST', '/api/tokens', { body: { role: 'viewer', name: 'x' } })).body as { id: string };
    const before = await auditCount();
    const noComment = await h.call('DELETE', `/api/tokens/${id}`, { body: {} });
    expect([noComment.status, noComment.body.error.target]).toEqual([400, 'Comment']);
    expect((await h.call('DELETE', `/api/tokens/${id}`, { body: { Comment: '   ' } })).status).toBe(400);
    expect((await h.call('DELETE', `/api/tokens/${id}`)).status).toBe(400);
    const missing = await h.call('DELETE', '/api/tokens/00000000-0000-4000-8000-000000000000', { body: { Comment: 'x' } });
    expect([missing.status, missing.body.error.code]).toEqual([404, 'ResourceNotFound']);
    expect(await auditCount()).toBe(before);
    expect((await h.call('GET', '/api/tokens')).body.value.find((t: { id: string }) => t.id === id).revokedAt).toBeNull();

    expect((await h.call('DELETE', `/api/tokens/${id}`, { body: { Comment: 'first' } })).status).toBe(200);
    h.clock.advance(5000);
    const again = await h.call('DELETE', `/api/tokens/${id}`, { body: { Comment: 'second' } });
    expect([again.status, again.body.error.code]).toEqual([409, 'AlreadyRevoked']);
    expect((await h.call('GET', '/api/tokens')).body.value.find((t: { id: string }) => t.id === id)).toMatchObject({ revokedAt: '2026-11-25T10:00:00.000Z' });
    expect(await lastAudit()).toMatchObject({ action: 'RevokeApiToken', targetId: id, comment: 'second', outcome: 'Refused' });
  });

  it('ends an open event stream of a token revoked meanwhile, within a second', async () => {
    const base = (await h.server.listen()).apiUrl;
    const { id, token } = (await h.call('POST', '/api/tokens', { body: { role: 'viewer', name: 'dashboard' } })).body as { id: string; token: string };
    const res = await new Promise<IncomingMessage>((resolve, reject) => request(`${base}/api/events`, { headers: { authorization: `Bearer ${token}` } }, resolve).on('error', reject).end());
    expect(res.statusCode).toBe(200);
    res.resume();
    const ended = new Promise<number>((r) => res.on('end', () => r(Date.now())));
    const revokedAt = Date.now();
    expect((await h.call('DELETE', `/api/tokens/${id}`, { body: { Comment: 'screen left on' } })).status).toBe(200);
    expect((await ended) - revokedAt).toBeLessThan(1000);
  });
});

describe('apps', () => {
  it('lists apps without secrets; revoking one refuses its secret and ends its live access tokens', async () => {
    const app = (await h.call('POST', '/api/apps', { body: { role: 'responder', name: 'soar' } })).body as { clientId: string; clientSecret: string };
    const issued = await grant(app.clientId, app.clientSecret);
    const access = issued.json().access_token as string;
    expect((await h.call('GET', '/api/machines', { token: access })).status).toBe(200);

    const list = await h.call('GET', '/api/apps');
    expect(list.status).toBe(200);
    expect(list.body.value).toEqual([{ clientId: app.clientId, name: 'soar', role: 'responder', createdAt: '2026-11-25T10:00:00.000Z', createdBy: 'admin', lastUsedAt: '2026-11-25T10:00:00.000Z', revokedAt: null, revokedBy: null }]);
    expect(list.text).not.toContain(app.clientSecret);
    expect(list.text).not.toMatch(/hash|secret/i);
    // Its access tokens are listed with the API tokens, by kind.
    const tokens = (await h.call('GET', '/api/tokens')).body.value as { kind: string; appId: string | null; name: string }[];
    expect(tokens.filter((t) => t.kind === 'access')).toEqual([expect.objectContaining({ appId: app.clientId, name: 'soar', expiresAt: '2026-11-25T11:00:00.000Z' })]);
    expect((await h.call('GET', '/api/tokens')).text).not.toContain(access);

    const unknownClient = await grant('00000000-0000-4000-8000-000000000000', app.clientSecret);
    const r = await h.call('DELETE', `/api/apps/${app.clientId}`, { body: { Comment: 'integration retired' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ clientId: app.clientId, revokedAt: '2026-11-25T10:00:00.000Z', revokedBy: 'admin' });
    expect((await h.call('GET', '/api/machines', { token: access })).status).toBe(401);
    const refused = await grant(app.clientId, app.clientSecret);
    expect([refused.statusCode, refused.body]).toEqual([401, unknownClient.body]);
    const accessRow = ((await h.call('GET', '/api/tokens')).body.value as { kind: string; revokedAt: string | null; revokedBy: string | null }[]).find((t) => t.kind === 'access');
    expect(accessRow).toMatchObject({ revokedAt: '2026-11-25T10:00:00.000Z', revokedBy: 'admin' });
    expect(await lastAudit('RevokeApp')).toMatchObject({ action: 'RevokeApp', targetType: 'app', targetId: app.clientId, comment: 'integration retired', outcome: 'Succeeded', detail: { accessTokensRevoked: 1 } });
  });

  it('revokes one access token of an app alone', async () => {
    const app = (await h.call('POST', '/api/apps', { body: { role: 'viewer', name: 'soar' } })).body as { clientId: string; clientSecret: string };
    const first = (await grant(app.clientId, app.clientSecret)).json().access_token as string;
    const second = (await grant(app.clientId, app.clientSecret)).json().access_token as string;
    const ids = ((await h.call('GET', '/api/tokens')).body.value as { id: string; kind: string; createdAt: string }[]).filter((t) => t.kind === 'access').map((t) => t.id);
    expect(ids).toHaveLength(2);
    // Find the first one's id: the principal id a request made with it carries in the audit trail is the token id.
    const before = await Promise.all(ids.map((id) => h.server.db.selectFrom('tokens').select(['id', 'token_hash']).where('id', '=', id).executeTakeFirstOrThrow()));
    const { sha256 } = await import('../services/auth.service.js');
    const firstId = before.find((t) => t.token_hash === sha256(first))!.id;
    expect((await h.call('DELETE', `/api/tokens/${firstId}`, { body: { Comment: 'one leaked' } })).status).toBe(200);
    expect((await h.call('GET', '/api/machines', { token: first })).status).toBe(401);
    expect((await h.call('GET', '/api/machines', { token: second })).status).toBe(200);
    expect((await grant(app.clientId, app.clientSecret)).statusCode).toBe(200);
  });

  it('answers 404 for an unknown app and 400 without a comment, changing nothing', async () => {
    const app = (await h.call('POST', '/api/apps', { body: { role: 'viewer', name: 'soar' } })).body as { clientId: string; clientSecret: string };
    const before = await auditCount();
    expect((await h.call('DELETE', '/api/apps/00000000-0000-4000-8000-000000000000', { body: { Comment: 'x' } })).status).toBe(404);
    expect((await h.call('DELETE', `/api/apps/${app.clientId}`, { body: { Comment: '' } })).status).toBe(400);
    expect(await auditCount()).toBe(before);
    expect((await grant(app.clientId, app.clientSecret)).statusCode).toBe(200);
  });
});

describe('console users', () => {
  it('lists users without password hashes; disabling one ends their sessions at once and refuses sign-in', async () => {
    await h.server.services.users.createUser('alice', 'correct horse battery', 'analyst', 'admin');
    const s = await signIn('alice', 'correct horse battery');
    expect(s.statusCode).toBe(200);
    const cookie = `cordon_session=${s.cookies.find((c) => c.name === 'cordon_session')!.value}`;
    expect((await h.call('GET', '/api/auth/me', { token: null, headers: { cookie } })).status).toBe(200);

    const list = await h.call('GET', '/api/users');
    expect(list.status).toBe(200);
    expect(list.text).not.toMatch(/scrypt|password|hash/i);
    const alice = list.body.value.find((u: { username: string }) => u.username === 'alice');
    expect(alice).toEqual({ id: expect.any(String), username: 'alice', role: 'analyst', createdAt: '2026-11-25T10:00:00.000Z', createdBy: 'admin', lastUsedAt: '2026-11-25T10:00:00.000Z', disabledAt: null, disabledBy: null });

    const wrongPassword = await signIn('alice', 'not her password');
    const r = await h.call('DELETE', '/api/users/alice', { body: { Comment: 'left the company' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ username: 'alice', disabledAt: '2026-11-25T10:00:00.000Z', disabledBy: 'admin' });
    expect((await h.call('GET', '/api/auth/me', { token: null, headers: { cookie } })).status).toBe(401);
    expect(await h.server.db.selectFrom('sessions').selectAll().where('user_id', '=', alice.id).execute()).toEqual([]);
    const refused = await signIn('alice', 'correct horse battery');
    expect([refused.statusCode, refused.body]).toEqual([401, wrongPassword.body]);
    expect(await lastAudit('DisableUser')).toMatchObject({ actor: 'admin', action: 'DisableUser', targetType: 'user', targetId: alice.id, comment: 'left the company', outcome: 'Succeeded', detail: { username: 'alice', sessionsEnded: 1 } });
  });

  it('answers 404 for an unknown user, 400 without a comment, 409 for one already disabled', async () => {
    await h.server.services.users.createUser('bob', 'correct horse battery', 'viewer', 'test');
    const before = await auditCount();
    expect((await h.call('DELETE', '/api/users/nobody', { body: { Comment: 'x' } })).status).toBe(404);
    expect((await h.call('DELETE', '/api/users/bob', { body: {} })).status).toBe(400);
    expect(await auditCount()).toBe(before);
    expect((await signIn('bob', 'correct horse battery')).statusCode).toBe(200);
    expect((await h.call('DELETE', '/api/users/bob', { body: { Comment: 'x' } })).status).toBe(200);
    expect((await h.call('DELETE', '/api/users/bob', { body: { Comment: 'x' } })).status).toBe(409);
  });

  it('does not let a signed-in admin disable their own account', async () => {
    const s = await signIn('admin', h.server.initialAdminPassword!);
    const cookie = `cordon_session=${s.cookies.find((c) => c.name === 'cordon_session')!.value}`;
    const r = await h.call('DELETE', '/api/users/admin', { token: null, headers: { cookie, 'x-csrf-token': s.json().csrfToken }, body: { Comment: 'oops' } });
    expect([r.status, r.body.error.code]).toEqual([409, 'Conflict']);
    expect((await h.call('GET', '/api/auth/me', { token: null, headers: { cookie } })).status).toBe(200);
  });
});

describe('enrollment tokens', () => {
  it('lists them without secrets; a revoked one enrolls nothing and fails as an unknown one does', async () => {
    const created = await h.call('POST', '/api/enrollmentTokens');
    expect(created.body).toMatchObject({ id: expect.any(String), token: expect.stringMatching(/^cet\./) });
    const { id, token } = created.body as { id: string; token: string };
    const secret = token.split('.')[1]!;
    await h.server.services.enrollment.enroll(secret, inventory({ hostname: 'first' }));
    const list = await h.call('GET', '/api/enrollmentTokens');
    expect(list.status).toBe(200);
    expect(list.text).not.toContain(secret);
    expect(list.text).not.toMatch(/hash|secret/i);
    expect(list.body.value.find((t: { id: string }) => t.id === id)).toEqual({ id, createdAt: '2026-11-25T10:00:00.000Z', createdBy: 'admin', expiresAt: '2026-11-26T10:00:00.000Z', lastUsedAt: '2026-11-25T10:00:00.000Z', revokedAt: null, revokedBy: null });

    let unknownError: unknown;
    await h.server.services.enrollment.enroll('made-up-secret', inventory()).catch((e: unknown) => (unknownError = e));
    const r = await h.call('DELETE', `/api/enrollmentTokens/${id}`, { body: { Comment: 'roll-out done' } });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ id, revokedAt: '2026-11-25T10:00:00.000Z', revokedBy: 'admin' });
    let revokedError: unknown;
    await h.server.services.enrollment.enroll(secret, inventory({ hostname: 'second' })).catch((e: unknown) => (revokedError = e));
    expect(revokedError).toBeDefined();
    expect([(revokedError as { status: number }).status, (revokedError as Error).message]).toEqual([(unknownError as { status: number }).status, (unknownError as Error).message]);
    expect((await h.call('GET', '/api/machines')).body.value.map((m: { computerDnsName: string }) => m.computerDnsName)).toEqual(['first']);
    expect(await lastAudit()).toMatchObject({ action: 'Enroll', outcome: 'Refused', detail: { reason: 'revoked token' } });
    const revocation = (await h.call('GET', '/api/audit?$top=2')).body.value[1];
    expect(revocation).toMatchObject({ action: 'RevokeEnrollmentToken', targetType: 'enrollmentToken', targetId: id, comment: 'roll-out done', outcome: 'Succeeded' });
  });

  it('answers 404 for an unknown id and 400 without a comment', async () => {
    const { id } = (await h.call('POST', '/api/enrollmentTokens')).body as { id: string };
    const before = await auditCount();
    expect((await h.call('DELETE', '/api/enrollmentTokens/00000000-0000-4000-8000-000000000000', { body: { Comment: 'x' } })).status).toBe(404);
    expect((await h.call('DELETE', `/api/enrollmentTokens/${id}`, { body: {} })).status).toBe(400);
    expect(await auditCount()).toBe(before);
  });
});

describe('who may revoke', () => {
  it('keeps every list and revocation to admins (403 before anything is looked up)', async () => {
    const machine = await h.enroll();
    const { id } = (await h.call('POST', '/api/tokens', { body: { role: 'viewer', name: 'x' } })).body as { id: string };
    const before = await auditCount();
    const refusedBefore = await refusedCount();
    const calls: [('GET' | 'DELETE' | 'POST'), string][] = [
      ['GET', '/api/tokens'],
      ['DELETE', `/api/tokens/${id}`],
      ['GET', '/api/apps'],
      ['DELETE', '/api/apps/00000000-0000-4000-8000-000000000000'],
      ['GET', '/api/users'],
      ['DELETE', '/api/users/admin'],
      ['GET', '/api/enrollmentTokens'],
      ['DELETE', '/api/enrollmentTokens/00000000-0000-4000-8000-000000000000'],
      ['POST', `/api/machines/${machine}/revokeCredential`],
    ];
    for (const role of ['viewer', 'analyst', 'responder'] as const) {
      for (const [method, url] of calls) {
        const r = await h.call(method, url, { token: h.tokens[role], body: method === 'GET' ? undefined : { Comment: 'try' } });
        expect(r.status, `${role} ${method} ${url}`).toBe(403);
      }
    }
    expect(await auditCount()).toBe(before);
    expect(await refusedCount()).toBe(refusedBefore + 3 * calls.length);
    expect((await h.call('GET', '/api/machines', { token: h.tokens.viewer })).status).toBe(200);
  });
});
