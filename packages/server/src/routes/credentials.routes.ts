import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../http/app.js';
import type { AuthService } from '../services/auth.service.js';
import type { EnrollmentService } from '../services/enrollment.service.js';
import type { MachinesService } from '../services/machines.service.js';
import type { UsersService } from '../services/users.service.js';
import { answers, AppInfo, AppList, EnrollmentTokenInfo, EnrollmentTokenList, Machine, TokenInfo, TokenList, UserInfo, UserList } from '../api/schemas.js';
import { Comment, IdParam, MachineIdParam } from './common.js';

/** Every revocation needs a reason, as every action does. */
const RevokeBody = z.strictObject({ comment: Comment });
const Paging = z.object({ $top: z.coerce.number().int().min(1).max(1000).default(100), $skip: z.coerce.number().int().min(0).default(0) });
const ClientIdParam = z.object({ clientId: z.string().min(1).max(128) });
const UsernameParam = z.object({ username: z.string().min(1).max(64) });

/**
 * Listing and revoking what the server hands out: API tokens (and apps' access tokens), apps,
 * console users, enrollment tokens and device credentials. Admins only; lists never carry a
 * secret or its hash; every revocation takes a comment and is audited with the change.
 */
export function credentialsRoutes(auth: AuthService, users: UsersService, enrollment: EnrollmentService, machines: MachinesService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['admin'];

    app.get('/tokens', { config: { access: 'admin.tokens' }, schema: { tags, summary: 'API tokens and live app access tokens, newest first (never the secrets)', querystring: Paging, response: answers({ 200: TokenList }) } }, async (req) => ({
      value: await auth.listTokens(req.query.$top, req.query.$skip),
    }));
    app.delete('/tokens/:id', { config: { access: 'admin.tokens' }, schema: { tags, summary: 'Revoke an API token or an access token: it fails as an unknown token from then on', params: IdParam, body: RevokeBody, response: answers({ 200: TokenInfo }) } }, async (req) =>
      auth.revokeToken(principalOf(req), req.params.id, req.body.comment),
    );

    app.get('/apps', { config: { access: 'admin.tokens' }, schema: { tags, summary: 'Registered apps, newest first (never the secrets)', querystring: Paging, response: answers({ 200: AppList }) } }, async (req) => ({
      value: await auth.listApps(req.query.$top, req.query.$skip),
    }));
    app.delete('/apps/:clientId', { config: { access: 'admin.tokens' }, schema: { tags, summary: 'Revoke an app: its secret is refused and its live access tokens stop working', params: ClientIdParam, body: RevokeBody, response: answers({ 200: AppInfo }) } }, async (req) =>
      auth.revokeApp(principalOf(req), req.params.clientId, req.body.comment),
    );

    app.get('/users', { config: { access: 'admin.users' }, schema: { tags, summary: 'Console user accounts (never the password hashes)', querystring: Paging, response: answers({ 200: UserList }) } }, async (req) => ({
      value: await users.list(req.query.$top, req.query.$skip),
    }));
    app.delete('/users/:username', { config: { access: 'admin.users' }, schema: { tags, summary: 'Disable a console user: their sessions end at once and sign-in is refused', params: UsernameParam, body: RevokeBody, response: answers({ 200: UserInfo }) } }, async (req) =>
      users.disable(principalOf(req), req.params.username, req.body.comment),
    );

    app.get('/enrollmentTokens', { config: { access: 'admin.enrollment' }, schema: { tags, summary: 'Agent enrollment tokens, newest first (never the secrets)', querystring: Paging, response: answers({ 200: EnrollmentTokenList }) } }, async (req) => ({
      value: await enrollment.listTokens(req.query.$top, req.query.$skip),
    }));
    app.delete('/enrollmentTokens/:id', { config: { access: 'admin.enrollment' }, schema: { tags, summary: 'Revoke an enrollment token: no device enrolls with it from then on', params: IdParam, body: RevokeBody, response: answers({ 200: EnrollmentTokenInfo }) } }, async (req) =>
      enrollment.revokeToken(principalOf(req), req.params.id, req.body.comment),
    );

    app.post(
      '/machines/:id/revokeCredential',
      { config: { access: 'admin.enrollment' }, schema: { tags: ['machines'], summary: "Revoke a device's credential: its agent is disconnected at once and refused from then on (re-enroll it)", params: MachineIdParam, body: RevokeBody, response: answers({ 200: Machine }) } },
      async (req) => {
        await enrollment.revokeDevice(principalOf(req), req.params.id, req.body.comment);
        return machines.get(req.params.id);
      },
    );
  };
}
