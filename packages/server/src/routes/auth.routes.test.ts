import { randomBytes } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testing/harness.js';

let h: Harness;
beforeEach(async () => {
  h = await startHarness();
});
afterEach(async () => {
  await h.close();
});

const form = (o: Record<string, string>) => new URLSearchParams(o).toString();

describe('auth', () => {
  it('issues client-credentials tokens at every MDE path, and they expire', async () => {
    const app = await h.call('POST', '/api/apps', { body: { role: 'responder', name: 'soar' } });
    expect(app.status).toBe(201);
    for (const path of ['/oauth2/v2.0/token', '/contoso/oauth2/token', '/contoso/oauth2/v2.0/token']) {
      const r = await h.server.app.inject({
        method: 'POST',
        url: path,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: form({ grant_type: 'client_credentials', client_id: app.body.clientId, client_secret: app.body.clientSecret, resource: 'https://api.securitycenter.microsoft.com', scope: 'x/.default' }),
      });
      expect(r.statusCode, path).toBe(200);
      const t = r.json();
      expect(t).toMatchObject({ token_type: 'Bearer', expires_in: 3600 });
      expect((await h.call('GET', '/api/machines', { token: t.access_token })).status).toBe(200);
    }
    const r = await h.server.app.inject({ method: 'POST', url: '/oauth2/v2.0/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form({ grant_type: 'client_credentials', client_id: app.body.clientId, client_secret: app.body.clientSecret }) });
    h.clock.advance(3601_000);
    const expired = await h.call('GET', '/api/machines', { token: r.json().access_token });
    expect(expired.status).toBe(401);
    expect(expired.body.error.message).toContain('expired');
  });

  it('answers token errors in the RFC 6749 shape OAuth libraries read', async () => {
    const app = await h.call('POST', '/api/apps', { body: { role: 'viewer', name: 'x' } });
    const post = (o: Record<string, string>) => h.server.app.inject({ method: 'POST', url: '/oauth2/v2.0/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: form(o) });
    const wrong = await post({ grant_type: 'client_credentials', client_id: app.body.clientId, client_secret: 'nope' });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ error: 'invalid_client', error_description: expect.any(String) });
    const grant = await post({ grant_type: 'password', client_id: app.body.clientId, client_secret: 'x' });
    expect([grant.statusCode, grant.json().error]).toEqual([400, 'unsupported_grant_type']);
    const missing = await post({ grant_type: 'client_credentials' });
    expect([missing.statusCode, missing.json().error]).toEqual([400, 'invalid_request']);
    expect(missing.json().error_description).toContain('client_id');
  });

  it('accepts client credentials in the Authorization header (client_secret_basic), one method at a time', async () => {
    const app = await h.call('POST', '/api/apps', { body: { role: 'viewer', name: 'basic' } });
    const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;
    const post = (o: Record<string, string>, authorization?: string) =>
      h.server.app.inject({ method: 'POST', url: '/oauth2/v2.0/token', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(authorization ? { authorization } : {}) }, payload: form(o) });
    const ok = await post({ grant_type: 'client_credentials' }, basic(app.body.clientId, app.body.clientSecret));
    expect(ok.statusCode).toBe(200);
    expect((await h.call('GET', '/api/machines', { token: ok.json().access_token })).status).toBe(200);
    const wrong = await post({ grant_type: 'client_credentials' }, basic(app.body.clientId, 'nope'));
    expect([wrong.statusCode, wrong.json().error]).toEqual([401, 'invalid_client']);
    const both = await post({ grant_type: 'client_credentials', client_id: app.body.clientId, client_secret: app.body.clientSecret }, basic(app.body.clientId, app.body.clientSecret));
    expect([both.statusCode, both.json().error]).toEqual([400, 'invalid_request']);
    const garbled = await post({ grant_type: 'client_credentials' }, 'Basic %%%');
    expect([garbled.statusCode, garbled.json().error]).toEqual([400, 'invalid_request']);
  });

  it('keeps administration to admins', async () => {
    for (const role of ['viewer', 'analyst', 'responder'] as const) {
      expect((await h.call('POST', '/api/tokens', { body: { role: 'admin', name: 'x' }, token: h.tokens[role] })).status).toBe(403);
      expect((await h.call('POST', '/api/enrollmentTokens', { token: h.tokens[role] })).status).toBe(403);
      expect((await h.call('GET', '/api/audit', { token: h.tokens[role] })).status).toBe(403);
    }
    const t = await h.call('POST', '/api/tokens', { body: { role: 'viewer', name: 'ro' } });
    expect(t.status).toBe(201);
    expect((await h.call('GET', '/api/machines', { token: t.body.token })).status).toBe(200);
    const e = await h.call('POST', '/api/enrollmentTokens');
    expect(e.body.token).toMatch(/^cet\.[A-Za-z0-9_-]{43}\.[0-9a-f]{64}$/);
  });

  it('serves the OpenAPI document, browsable docs, health and Prometheus metrics without a token', async () => {
    const doc = await h.call('GET', '/api/openapi.json', { token: null });
    expect(doc.status).toBe(200);
    expect(Object.keys(doc.body.paths)).toEqual(expect.arrayContaining(['/api/machines', '/api/machines/{id}/isolate', '/api/machineactions/{id}/cancel', '/oauth2/v2.0/token']));
    expect(Object.keys(doc.body.paths).some((p) => p.startsWith('/api/v1.0'))).toBe(false);
    expect((await h.call('GET', '/api/docs/', { token: null })).status).toBe(200);
    expect((await h.call('GET', '/api/health', { token: null })).body.status).toBe('ok');
    const metrics = await h.call('GET', '/metrics', { token: null });
    expect(metrics.text).toContain('cordon_agents_connected');
  });
});

describe('rate limit', () => {
  it('never counts health checks and metrics scrapes: a load balancer cannot lock an address out', async () => {
    const limited = await startHarness({ rateLimitPerMinute: 3 });
    try {
      for (let i = 0; i < 10; i++) {
        expect((await limited.call('GET', '/api/health', { token: null })).status).toBe(200);
        expect((await limited.call('GET', '/metrics', { token: null })).status).toBe(200);
      }
      // The address the checks came from still has its whole budget.
      const password = limited.server.initialAdminPassword!;
      const signIn = await limited.server.app.inject({ method: 'POST', url: '/api/auth/signin', payload: { username: 'admin', password } });
      expect(signIn.statusCode).toBe(200);
    } finally {
      await limited.close();
    }
  });


  it('answers 429 with Retry-After once a token exceeds its budget, and other tokens go on', async () => {
    const limited = await startHarness({ rateLimitPerMinute: 3 });
    try {
      for (let i = 0; i < 3; i++) expect((await limited.call('GET', '/api/machines')).status).toBe(200);
      const r = await limited.call('GET', '/api/machines');
      expect(r.status).toBe(429);
      expect(r.body.error.code).toBe('TooManyRequests');
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect((await limited.call('GET', '/api/machines', { token: limited.tokens.viewer })).status).toBe(200);
      // Made-up tokens do not each buy a fresh bucket: unauthenticated calls count per address.
      const codes: number[] = [];
      for (let i = 0; i < 5; i++) {
        const r2 = await limited.server.app.inject({ method: 'POST', url: '/oauth2/v2.0/token', headers: { authorization: `Bearer junk${i}`, 'content-type': 'application/x-www-form-urlencoded' }, payload: 'grant_type=client_credentials&client_id=x&client_secret=y' });
        codes.push(r2.statusCode);
      }
      expect(codes).toEqual([401, 401, 401, 429, 429]);
    } finally {
      await limited.close();
    }
  });

  it('counts made-up bearer tokens per address on protected routes: the guesser ends in 429, valid tokens and health checks go on', async () => {
    const limited = await startHarness({ rateLimitPerMinute: 5 });
    try {
      const from = (remoteAddress: string, token: string | null, url = '/api/machines') =>
        limited.server.app.inject({ method: 'GET', url, remoteAddress, headers: token ? { authorization: `Bearer ${token}` } : {} });
      const codes: number[] = [];
      for (let i = 0; i < 12; i++) codes.push((await from('198.51.100.7', `guess-${randomBytes(16).toString('hex')}`)).statusCode);
      expect(codes).toEqual([401, 401, 401, 401, 401, 429, 429, 429, 429, 429, 429, 429]);
      const blocked = await from('198.51.100.7', 'guess-again');
      expect(blocked.statusCode).toBe(429);
      expect(blocked.json()).toMatchObject({ error: { code: 'TooManyRequests' } });
      expect(Number(blocked.headers['retry-after'])).toBeGreaterThan(0);
      // Sessions are guessed the same way, through the cookie.
      expect((await limited.server.app.inject({ method: 'GET', url: '/api/machines', remoteAddress: '198.51.100.7', cookies: { cordon_session: 'guess' } })).statusCode).toBe(429);
      // A valid token from another address is unaffected, and keeps its own per-token budget.
      for (let i = 0; i < 5; i++) expect((await from('198.51.100.8', limited.tokens.viewer)).statusCode).toBe(200);
      expect((await from('198.51.100.8', limited.tokens.viewer)).statusCode).toBe(429);
      // A valid token from the guessing address still works: tokens are 256-bit secrets, so an
      // attacker sharing a NAT with analysts must not be able to lock them out.
      expect((await from('198.51.100.7', limited.tokens.analyst)).statusCode).toBe(200);
      // Health checks and metrics scrapes are never limited, from the guessing address either.
      for (let i = 0; i < 10; i++) {
        expect((await from('198.51.100.7', null, '/api/health')).statusCode).toBe(200);
        expect((await from('198.51.100.7', 'guess', '/metrics')).statusCode).toBe(200);
      }
    } finally {
      await limited.close();
    }
  });
});

describe('authorization cannot be forgotten', () => {
  it('a route that declares no access fails at registration', async () => {
    const { createHttpApp } = await import('../http/app.js');
    const { createMetrics } = await import('../metrics.js');
    const { pino } = await import('pino');
    const app = await createHttpApp({ auth: h.server.services.auth, metrics: createMetrics(), logger: pino({ level: 'silent' }), bodyLimit: 1024 * 1024, rateLimitPerMinute: 0 });
    expect(() => app.get('/api/oops', async () => 'leak')).toThrow(/declares no access permission/);
    await app.close();
  });

  it('every registered route declares its access', async () => {
    const table = h.server.app.routeTable;
    expect(table.length).toBeGreaterThan(20);
    // Without a token every non-public route answers 401 before its handler (or a 404) runs.
    for (const r of table.filter((t) => t.access !== 'public')) {
      const url = r.url.replace(':id', 'a'.repeat(40)).replace(':tenant', 't').replace(':tag', 'prod').replace(':index(^\\d+)', '0');
      const res = await h.call(r.method as 'GET', url, { token: null, body: r.method === 'POST' ? {} : undefined });
      expect(res.status, `${r.method} ${r.url}`).toBe(401);
    }
    // The isolation routes are among those checked, with the permissions they declare.
    const declared = (url: string, method: string) => table.find((t) => t.url === url && t.method === method)?.access;
    expect(declared('/api/isolationPolicies', 'GET')).toBe('policy.read');
    expect(declared('/api/isolationPolicies/global', 'PUT')).toBe('policy.write');
    expect(declared('/api/isolationPolicies/tags/:tag', 'PUT')).toBe('policy.write');
    expect(declared('/api/isolationPolicies/tags/:tag', 'DELETE')).toBe('policy.write');
    expect(declared('/api/machines/:id/isolationPolicy', 'GET')).toBe('policy.read');
    expect(declared('/api/v1.0/machines/:id/releaseToken', 'POST')).toBe('isolation.breakGlass');
    const publicRoutes = table.filter((t) => t.access === 'public').map((t) => t.url);
    // Package and live-response result downloads are public by design: the signed, expiring URL from
    // GetPackageUri or GetLiveResponseResultDownloadLink is the credential.
    // The console's pages and assets are public too: the page asks for sign-in, the API for credentials.
    expect(publicRoutes.sort()).toEqual(['/', '/:tenant/oauth2/token', '/:tenant/oauth2/v2.0/token', '/actions', '/admin/audit', '/admin/credentials', '/admin/groups', '/alerts', '/alerts/*', '/api/auth/signin', '/api/health', '/api/liveResponseResults/:id/:index/download', '/api/openapi.json', '/api/packages/:id/download', '/api/v1.0/auth/signin', '/api/v1.0/health', '/api/v1.0/liveResponseResults/:id/:index/download', '/api/v1.0/packages/:id/download', '/assets/*', '/devices', '/devices/*', '/indicators', '/metrics', '/oauth2/v2.0/token', '/signin']);
    expect(declared('/api/machineactions/:id/GetPackageUri', 'GET')).toBe('packages.read');
  });
});
