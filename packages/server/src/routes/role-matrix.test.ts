/**
 * The role matrix: every route of the API × every role (and no token), generated from the app's
 * route table. The expectations come from the pins below, not from the code under test: lowering a
 * permission in auth/permissions.ts or declaring a weaker permission on a route makes this fail,
 * and so does a new route nobody pinned (a route with no declared access cannot even register).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, RANKED_ROLES, ROLES, SCOPED_ROLES, type Permission, type RankedRole, type Role, type RouteAccess } from '../auth/permissions.js';
import { startHarness, type Harness } from '../testing/harness.js';

/** The least role that holds each permission, as the product defines them (README: roles and tokens). */
const PINNED_PERMISSIONS: Record<Permission, RankedRole> = {
  'machines.read': 'viewer',
  'actions.read': 'viewer',
  'timeline.read': 'viewer',
  'policy.read': 'viewer',
  'alerts.read': 'viewer',
  'alerts.write': 'analyst',
  'alerts.ingest': 'responder',
  'indicators.read': 'viewer',
  'rulepacks.read': 'viewer',
  'tags.write': 'analyst',
  'packages.read': 'analyst',
  'library.read': 'analyst',
  'groups.read': 'analyst',
  'live.read': 'analyst',
  'live.basic': 'analyst',
  'live.advanced': 'responder',
  'actions.submit': 'responder',
  'actions.cancel': 'responder',
  'indicators.write': 'responder',
  'audit.read': 'admin',
  'admin.tokens': 'admin',
  'admin.enrollment': 'admin',
  'admin.users': 'admin',
  'policy.write': 'admin',
  'rulepacks.write': 'admin',
  'library.write': 'admin',
  'groups.write': 'admin',
  'isolation.breakGlass': 'admin',
};

/**
 * Routes anyone may call, and why. Anything else must declare a permission: a route that is
 * public without being listed here fails this test.
 */
const PUBLIC_ROUTES = [
  // The console's pages and assets: the page asks for sign-in, the API for credentials.
  'GET /', 'GET /signin', 'GET /alerts', 'GET /alerts/*', 'GET /devices', 'GET /devices/*', 'GET /actions', 'GET /indicators', 'GET /admin/credentials', 'GET /admin/audit', 'GET /admin/groups', 'GET /assets/*',
  // Probes and scrapes: no secrets in them.
  'GET /api/health', 'GET /metrics', 'GET /api/openapi.json',
  // Credentials are what these take.
  'POST /oauth2/v2.0/token', 'POST /:tenant/oauth2/token', 'POST /:tenant/oauth2/v2.0/token', 'POST /api/auth/signin',
  // The signed, expiring URL from GetPackageUri is the credential.
  'GET /api/packages/:id/download',
  // The signed, expiring URL from GetLiveResponseResultDownloadLink is the credential.
  'GET /api/liveResponseResults/:id/:index/download',
];

/** Every other route (`/api/v1.0/…` aliases included, as their `/api/…` spelling) with the permission it must declare. */
const PINNED_ROUTES: Record<string, Permission> = {
  'GET /api/machines': 'machines.read',
  'GET /api/machines/:id': 'machines.read',
  'GET /api/machines/:id/timeline': 'timeline.read',
  'POST /api/machines/:id/tags': 'tags.write',
  'POST /api/machines/AddOrRemoveTagForMultipleMachines': 'tags.write',
  'GET /api/actionTypes': 'actions.read',
  'GET /api/machines/:id/responseActions': 'machines.read',
  'POST /api/machines/:id/isolate': 'actions.submit',
  'POST /api/machines/:id/unisolate': 'actions.submit',
  'POST /api/machines/:id/collectInvestigationPackage': 'actions.submit',
  'POST /api/machines/:id/runAntiVirusScan': 'actions.submit',
  'POST /api/machines/:id/restrictCodeExecution': 'actions.submit',
  'POST /api/machines/:id/unrestrictCodeExecution': 'actions.submit',
  'POST /api/machines/:id/StopAndQuarantineFile': 'actions.submit',
  'POST /api/machines/:id/runliveresponse': 'actions.submit',
  'POST /api/machines/:id/offboard': 'actions.submit',
  'POST /api/machines/:id/refreshInventory': 'actions.submit',
  'POST /api/machineactions/bulk': 'actions.submit',
  'GET /api/machineactions': 'actions.read',
  'GET /api/machineactions/:id': 'actions.read',
  'POST /api/machineactions/:id/cancel': 'actions.cancel',
  'POST /api/tokens': 'admin.tokens',
  'POST /api/apps': 'admin.tokens',
  'POST /api/enrollmentTokens': 'admin.enrollment',
  'GET /api/audit': 'audit.read',
  'GET /api/audit/verify': 'audit.read',
  'GET /api/tokens': 'admin.tokens',
  'DELETE /api/tokens/:id': 'admin.tokens',
  'GET /api/apps': 'admin.tokens',
  'DELETE /api/apps/:clientId': 'admin.tokens',
  'GET /api/users': 'admin.users',
  'DELETE /api/users/:username': 'admin.users',
  'GET /api/enrollmentTokens': 'admin.enrollment',
  'DELETE /api/enrollmentTokens/:id': 'admin.enrollment',
  'POST /api/machines/:id/revokeCredential': 'admin.enrollment',
  'GET /api/isolationPolicies': 'policy.read',
  'GET /api/isolationPolicies/global': 'policy.read',
  'PUT /api/isolationPolicies/global': 'policy.write',
  'GET /api/isolationPolicies/tags/:tag': 'policy.read',
  'PUT /api/isolationPolicies/tags/:tag': 'policy.write',
  'DELETE /api/isolationPolicies/tags/:tag': 'policy.write',
  'GET /api/machines/:id/isolationPolicy': 'policy.read',
  'POST /api/machines/:id/releaseToken': 'isolation.breakGlass',
  'GET /api/machineactions/:id/GetPackageUri': 'packages.read',
  'GET /api/machines/:id/packages': 'packages.read',
  'POST /api/auth/signout': 'machines.read',
  'GET /api/auth/me': 'machines.read',
  'GET /api/events': 'machines.read',
  'GET /api/alerts': 'alerts.read',
  'GET /api/alerts/:id': 'alerts.read',
  'PATCH /api/alerts/:id': 'alerts.write',
  'POST /api/alerts/batchUpdate': 'alerts.write',
  'GET /api/machines/:id/alerts': 'alerts.read',
  'POST /api/alerts': 'alerts.ingest',
  'POST /api/alerts/batch': 'alerts.ingest',
  'POST /api/alerts/falco': 'alerts.ingest',
  'GET /api/indicators': 'indicators.read',
  'GET /api/indicators/:id': 'indicators.read',
  'POST /api/indicators': 'indicators.write',
  'DELETE /api/indicators/:id': 'indicators.write',
  'POST /api/indicators/BatchDelete': 'indicators.write',
  'POST /api/indicators/import': 'indicators.write',
  'GET /api/scanPolicies': 'policy.read',
  'GET /api/scanPolicies/global': 'policy.read',
  'PUT /api/scanPolicies/global': 'policy.write',
  'DELETE /api/scanPolicies/global': 'policy.write',
  'GET /api/scanPolicies/tags/:tag': 'policy.read',
  'PUT /api/scanPolicies/tags/:tag': 'policy.write',
  'DELETE /api/scanPolicies/tags/:tag': 'policy.write',
  'GET /api/rulepacks': 'rulepacks.read',
  'GET /api/rulepacks/:name': 'rulepacks.read',
  'POST /api/rulepacks': 'rulepacks.write',
  'DELETE /api/rulepacks/:name': 'rulepacks.write',
  'GET /api/libraryfiles': 'library.read',
  'GET /api/libraryfiles/:fileName': 'library.read',
  'POST /api/libraryfiles': 'library.write',
  'DELETE /api/libraryfiles/:fileName': 'library.write',
  'POST /api/machines/:id/liveResponseSessions': 'live.basic',
  'GET /api/liveResponseSessions': 'live.read',
  'GET /api/liveResponseSessions/:id': 'live.read',
  'POST /api/liveResponseSessions/:id/commands': 'live.basic',
  'POST /api/liveResponseSessions/:id/commands/:seq/cancel': 'live.basic',
  'POST /api/liveResponseSessions/:id/complete': 'live.basic',
  'POST /api/liveResponseSessions/:id/commands/:seq/input': 'live.basic',
  'POST /api/liveResponseSessions/:id/end': 'live.basic',
  'GET /api/liveResponseSessions/:id/transcript': 'live.read',
  'GET /api/machineactions/:id/GetLiveResponseResultDownloadLink(index=:index(^\\d+))': 'live.read',
  'GET /api/liveResponseSessions/:id/stream': 'live.read',
  'GET /api/liveResponseSessions/:id/socket': 'live.read',
  'GET /api/liveResponseSessions/:id/files': 'live.read',
  'GET /api/liveResponseSessions/:id/files/:fileId/content': 'live.read',
  'GET /api/machinegroups': 'groups.read',
  'GET /api/machinegroups/:id': 'groups.read',
  'POST /api/machinegroups': 'groups.write',
  'PATCH /api/machinegroups/:id': 'groups.write',
  'DELETE /api/machinegroups/:id': 'groups.write',
  'GET /api/machines/:id/quarantine': 'machines.read',
  'POST /api/machines/:id/restoreQuarantinedFile': 'actions.submit',
};

/** Whether a role may call a route that needs `access`: by rank, or (a scoped role) by its own list only. */
const allows = (role: Role, access: Permission): boolean =>
  role === 'ingest' ? access === 'alerts.ingest' : RANKED_ROLES.indexOf(role) >= RANKED_ROLES.indexOf(PINNED_PERMISSIONS[access]);

const pinned = (key: string): RouteAccess | undefined => {
  const api = key.replace(' /api/v1.0/', ' /api/');
  return PUBLIC_ROUTES.includes(api) ? 'public' : PINNED_ROUTES[api];
};

/**
 * A request that reaches the handler harmlessly: ids that exist nowhere (404 after authorization),
 * and bodies and queries that fail validation where a valid one would change something. The event
 * stream gets an invalid query, or it would stay open.
 */
function requestFor(method: string, url: string): { url: string; body?: unknown } {
  const path = url
    .replace(':id', url.includes('/machineactions/') || url.includes('/packages/') ? '00000000-0000-4000-8000-000000000000' : 'f'.repeat(40))
    .replace(':tenant', 'tenant')
    .replace(':tag', 'no-such-tag')
    // A regex parameter (MDE's `(index=N)`) gets a value it matches.
    .replace(':index(^\\d+)', '0')
    .replace(':index', '0')
    .replace('*', 'x');
  const query = url.endsWith('/events') ? '?machineId=not-a-machine-id' : '';
  return { url: path + query, body: method === 'GET' ? undefined : {} };
}

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
});
afterAll(async () => {
  await h.close();
});

describe('role matrix', () => {
  it('the permission table gives each permission to the roles the product says', () => {
    expect(ROLES).toEqual(['viewer', 'analyst', 'responder', 'admin', 'ingest']);
    expect(PERMISSIONS).toEqual(PINNED_PERMISSIONS);
    // The ingest role can send alerts and nothing else.
    expect(SCOPED_ROLES).toEqual({ ingest: ['alerts.ingest'] });
  });

  it('every route declares the pinned permission, and only listed routes are public', () => {
    const table = h.server.app.routeTable;
    expect(table.length).toBeGreaterThan(80);
    const problems: string[] = [];
    for (const r of table) {
      const key = `${r.method} ${r.url}`;
      const want = pinned(key);
      if (want === undefined) problems.push(`${key} (declares ${r.access}) is not pinned: add it to PINNED_ROUTES with the permission it needs, or to PUBLIC_ROUTES with why`);
      else if (r.access !== want) problems.push(`${key} declares ${r.access}, expected ${want}`);
    }
    // Every pin is a route that exists (both spellings for the API), so the matrix cannot go stale.
    const keys = new Set(table.map((r) => `${r.method} ${r.url}`));
    for (const key of [...PUBLIC_ROUTES, ...Object.keys(PINNED_ROUTES)]) if (!keys.has(key)) problems.push(`${key} is pinned but not registered`);
    for (const key of Object.keys(PINNED_ROUTES)) if (!keys.has(key.replace(' /api/', ' /api/v1.0/'))) problems.push(`${key} has no /api/v1.0 alias`);
    expect(problems).toEqual([]);
  });

  it('answers 401 without a token, 403 to a role without the permission, and lets the others through, on every route', async () => {
    const callers: (Role | null)[] = [null, ...ROLES];
    const problems: string[] = [];
    let checked = 0;
    for (const r of h.server.app.routeTable) {
      const access = pinned(`${r.method} ${r.url}`);
      if (access === undefined || access === 'public') continue;
      const req = requestFor(r.method, r.url);
      for (const role of callers) {
        const res = await h.call(r.method as 'GET', req.url, { token: role ? h.tokens[role] : null, body: req.body });
        const allowed = role !== null && allows(role, access);
        const who = role ?? 'no token';
        checked++;
        if (role === null) {
          if (res.status !== 401) problems.push(`${r.method} ${req.url} as ${who}: ${res.status}, expected 401`);
        } else if (!allowed) {
          if (res.status !== 403 || res.body?.error?.code !== 'Forbidden') problems.push(`${r.method} ${req.url} as ${who}: ${res.status} ${res.text.slice(0, 120)}, expected 403 Forbidden (needs ${access})`);
        } else if (res.status === 401 || res.status === 403) {
          problems.push(`${r.method} ${req.url} as ${who}: ${res.status} ${res.text.slice(0, 120)}, expected to pass authorization (${access})`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThan(300);
  });
});
