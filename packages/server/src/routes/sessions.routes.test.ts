import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

async function signIn(username: string, password: string) {
  const res = await h.server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username, password } });
  const cookie = res.cookies.find((c) => c.name === 'cordon_session');
  return { res, cookie, body: res.json() as { csrfToken: string; user: { name: string; role: string }; error?: { code: string; message: string } } };
}

const withSession = (cookie: string, method: 'GET' | 'POST', url: string, opts: { csrf?: string; body?: unknown } = {}) =>
  h.server.app.inject({ method, url, headers: { cookie: `cordon_session=${cookie}`, ...(opts.csrf ? { 'x-csrf-token': opts.csrf } : {}) }, ...(opts.body !== undefined ? { payload: opts.body as object } : {}) });

describe('console sign-in', () => {
  it('creates the first admin with a one-time password, and signs in with an HttpOnly SameSite=Strict cookie', async () => {
    const password = h.server.initialAdminPassword!;
    expect(password.length).toBeGreaterThanOrEqual(16);
    const bad = await signIn('admin', 'wrong password!');
    expect(bad.res.statusCode).toBe(401);
    expect(bad.body.error!.message).toBe('Wrong user name or password');
    const unknown = await signIn('nobody', 'whatever12345');
    expect(unknown.res.statusCode).toBe(401);
    const ok = await signIn('admin', password);
    expect(ok.res.statusCode).toBe(200);
    expect(ok.body.user).toEqual({ name: 'admin', role: 'admin' });
    expect(ok.cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: '/' });
    const me = await withSession(ok.cookie!.value, 'GET', '/api/auth/me');
    expect(me.json()).toMatchObject({ name: 'admin', role: 'admin', csrfToken: ok.body.csrfToken });
    expect(me.json().permissions).toContain('isolation.breakGlass');
    // Passwords are stored as scrypt hashes, never as text (with the harness's low cost; the default is in users.service.test.ts).
    const row = await h.server.db.selectFrom('users').selectAll().where('username', '=', 'admin').executeTakeFirstOrThrow();
    expect(row.password_hash).toMatch(/^scrypt\$1024\$8\$1\$/);
    expect(row.password_hash).not.toContain(password);
  });

  it('requires the CSRF token for changes made with the cookie; bearer tokens keep working for scripts', async () => {
    const id = await h.enroll();
    const s = await signIn('admin', h.server.initialAdminPassword!);
    const cookie = s.cookie!.value;
    expect((await withSession(cookie, 'GET', `/api/machines/${id}`)).statusCode).toBe(200);
    const forged = await withSession(cookie, 'POST', `/api/machines/${id}/tags`, { body: { Value: 'prod', Action: 'Add' } });
    expect(forged.statusCode).toBe(403);
    expect(forged.json().error.code).toBe('CsrfTokenMissing');
    expect((await withSession(cookie, 'POST', `/api/machines/${id}/tags`, { body: { Value: 'prod', Action: 'Add' }, csrf: 'x'.repeat(43) })).statusCode).toBe(403);
    expect((await withSession(cookie, 'POST', `/api/machines/${id}/tags`, { body: { Value: 'prod', Action: 'Add' }, csrf: s.body.csrfToken })).statusCode).toBe(200);
    expect((await h.call('GET', `/api/machines/${id}`)).body.machineTags).toEqual(['prod']);
  });

  it('gives each user the rights of their role, and ends sessions on sign-out and expiry', async () => {
    const id = await h.enroll();
    await h.server.services.users.createUser('vera', 'a long viewer password', 'viewer', 'test');
    const v = await signIn('vera', 'a long viewer password');
    const denied = await withSession(v.cookie!.value, 'POST', `/api/machines/${id}/tags`, { body: { Value: 'x', Action: 'Add' }, csrf: v.body.csrfToken });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().error.message).toMatch(/viewer role does not have the tags.write permission/);
    const out = await withSession(v.cookie!.value, 'POST', '/api/auth/signout', { csrf: v.body.csrfToken });
    expect(out.statusCode).toBe(204);
    expect((await withSession(v.cookie!.value, 'GET', '/api/machines')).statusCode).toBe(401);
    const again = await signIn('vera', 'a long viewer password');
    h.clock.advance(13 * 3600_000);
    const expired = await withSession(again.cookie!.value, 'GET', '/api/machines');
    expect(expired.statusCode).toBe(401);
    expect(expired.json().error.message).toMatch(/expired; sign in again/);
  });

  it('slows down repeated failed sign-ins (429 with Retry-After), per user and address', async () => {
    for (let i = 0; i < 5; i++) expect((await signIn('admin', `wrong ${i}`)).res.statusCode).toBe(401);
    expect((await signIn('admin', 'wrong 5')).res.statusCode).toBe(401);
    const locked = await signIn('admin', h.server.initialAdminPassword!);
    expect(locked.res.statusCode).toBe(429);
    expect(Number(locked.res.headers['retry-after'])).toBeGreaterThan(0);
    h.clock.advance(3000);
    expect((await signIn('admin', h.server.initialAdminPassword!)).res.statusCode).toBe(200);
    const audit = (await h.call('GET', '/api/audit?$top=100')).body.value as { action: string; outcome: string }[];
    expect(audit.filter((a) => a.action === 'SignIn' && a.outcome === 'Failed')).toHaveLength(6);
  });

  it('slows down concurrent guesses too: of 50 wrong passwords sent at once, only the free ones are checked', async () => {
    const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => signIn('admin', `guess ${i}`)));
    const codes = answers.map((a) => a.res.statusCode);
    expect(codes.filter((c) => c === 401).length).toBeLessThanOrEqual(6);
    expect(codes.filter((c) => c === 429).length).toBeGreaterThanOrEqual(44);
    const audit = (await h.call('GET', '/api/audit?$top=100')).body.value as { action: string; outcome: string }[];
    expect(audit.filter((a) => a.action === 'SignIn' && a.outcome === 'Failed').length).toBeLessThanOrEqual(6);
  });

  it('marks the cookie Secure behind a TLS proxy it trusts, and believes no forwarded header from anyone else', async () => {
    const viaProxy = () => h.server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username: 'admin', password: h.server.initialAdminPassword! }, headers: { 'x-forwarded-proto': 'https', 'x-forwarded-for': '203.0.113.7' } });
    // Not configured: a client cannot make itself look like HTTPS or like another address.
    expect((await viaProxy()).cookies.find((c) => c.name === 'cordon_session')?.secure).toBeFalsy();
    await h.close();
    h = await startHarness({ trustProxy: ['127.0.0.1'] });
    const behind = await viaProxy();
    expect(behind.statusCode).toBe(200);
    expect(behind.cookies.find((c) => c.name === 'cordon_session')?.secure).toBe(true);
    const audit = (await h.call('GET', '/api/audit?$top=10')).body.value as { action: string; detail: { address?: string } }[];
    expect(audit.find((a) => a.action === 'SignIn')?.detail.address).toBe('203.0.113.7');
  });

  it('validates accounts and sends security headers', async () => {
    await expect(h.server.services.users.createUser('bad name', null, 'viewer', 't')).rejects.toThrow(/user name/);
    await expect(h.server.services.users.createUser('shorty', 'short', 'viewer', 't')).rejects.toThrow(/at least 12 characters/);
    await expect(h.server.services.users.createUser('admin', null, 'viewer', 't')).rejects.toThrow(/already exists/);
    const r = await h.call('GET', '/api/machines');
    expect(r.headers).toMatchObject({ 'x-content-type-options': 'nosniff', 'x-frame-options': 'DENY' });
    expect(String(r.headers['content-security-policy'])).toContain("frame-ancestors 'none'");
    expect(String(r.headers['content-security-policy'])).toMatch(/script-src 'self';/);
  });
});
