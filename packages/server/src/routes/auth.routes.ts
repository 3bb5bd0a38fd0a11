import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { ApiError, BadRequestError } from '../errors.js';
import { z } from 'zod';
import { isRole, ROLES } from '../auth/permissions.js';
import { principalOf } from '../http/app.js';
import type { AuditService } from '../services/audit.service.js';
import type { AuditIntegrityService } from '../services/audit-integrity.service.js';
import type { AuthService } from '../services/auth.service.js';
import type { EnrollmentService } from '../services/enrollment.service.js';
import { AccessToken, answers, AuditList, AuditVerification, CreatedApp, CreatedToken, EnrollmentToken } from '../api/schemas.js';

const TokenRequest = z.object({
  grant_type: z.literal('client_credentials', { error: "grant_type must be 'client_credentials'" }),
  // Optional here: a client may send them in the Authorization header instead (client_secret_basic).
  client_id: z.string().min(1).max(128).optional(),
  client_secret: z.string().min(1).max(256).optional(),
  resource: z.string().max(1024).optional(),
  scope: z.string().max(1024).optional(),
});
const CreateToken = z.strictObject({ role: z.enum(ROLES), name: z.string().trim().min(1).max(128) });
const Paging = z.object({ $top: z.coerce.number().int().min(1).max(1000).default(100), $skip: z.coerce.number().int().min(0).default(0) });

/**
 * OAuth2 client credentials, at every path MDE clients use. Served outside /api, and errors take
 * the RFC 6749 shape (`{"error":"invalid_client","error_description":…}`) that OAuth libraries read.
 */
export function oauthRoutes(auth: AuthService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    app.setErrorHandler(async (err: FastifyError, _req, reply) => {
      if (err instanceof ApiError && err.status === 429) {
        return reply.code(429).header('retry-after', err.headers['retry-after'] ?? '60').send({ error: 'slow_down', error_description: err.message });
      }
      if (err instanceof ApiError && err.status === 401) return reply.code(401).send({ error: 'invalid_client', error_description: err.message });
      if (err instanceof BadRequestError) return reply.code(400).send({ error: 'invalid_request', error_description: err.message });
      const issue = hasZodFastifySchemaValidationErrors(err) ? err.validation[0] : undefined;
      const field = issue?.instancePath.replace(/^\//, '') || (issue?.params as { keys?: string[] } | undefined)?.keys?.[0];
      const code = field === 'grant_type' ? 'unsupported_grant_type' : 'invalid_request';
      const description = issue ? `${field ?? 'body'}: ${issue.message}` : err.statusCode === 415 ? 'Send the form as application/x-www-form-urlencoded' : 'The token request could not be read';
      return reply.code(400).send({ error: code, error_description: description });
    });
    const handler = async (req: { body: z.infer<typeof TokenRequest>; headers: { authorization?: string } }) => {
      const { clientId, clientSecret } = clientCredentials(req.body, req.headers.authorization);
      const t = await auth.issueAccessToken(clientId, clientSecret);
      return { token_type: 'Bearer' as const, expires_in: t.expiresIn, ext_expires_in: t.expiresIn, access_token: t.accessToken };
    };
    const opts = { config: { access: 'public' as const }, schema: { tags: ['auth'], summary: 'OAuth2 client-credentials token', body: TokenRequest, response: { 200: AccessToken } } };
    app.post('/oauth2/v2.0/token', opts, handler);
    app.post('/:tenant/oauth2/token', { ...opts, schema: { ...opts.schema, hide: true } }, handler);
    app.post('/:tenant/oauth2/v2.0/token', { ...opts, schema: { ...opts.schema, hide: true } }, handler);
  };
}

/**
 * The client's id and secret, from the form (client_secret_post) or the Authorization header
 * (client_secret_basic, RFC 6749 §2.3.1: form-urlencoded, then base64) — one method, never both.
 */
function clientCredentials(body: { client_id?: string; client_secret?: string }, authorization: string | undefined): { clientId: string; clientSecret: string } {
  const basic = /^Basic\s+(\S+)$/i.exec(authorization ?? '');
  if (basic) {
    if (body.client_id !== undefined || body.client_secret !== undefined) throw new BadRequestError('Send the client credentials in the Authorization header or in the form, not both', 'client_id');
    const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    let id: string, secret: string;
    try {
      [id, secret] = [decodeURIComponent(decoded.slice(0, colon)), decodeURIComponent(decoded.slice(colon + 1))];
    } catch {
      throw new BadRequestError('The Authorization header is not Basic base64(client_id:client_secret)', 'authorization');
    }
    if (colon < 1 || !id || !secret || id.length > 128 || secret.length > 256) throw new BadRequestError('The Authorization header is not Basic base64(client_id:client_secret)', 'authorization');
    return { clientId: id, clientSecret: secret };
  }
  if (!body.client_id) throw new BadRequestError('client_id: is required (in the form, or use the Authorization header)', 'client_id');
  if (!body.client_secret) throw new BadRequestError('client_secret: is required (in the form, or use the Authorization header)', 'client_secret');
  return { clientId: body.client_id, clientSecret: body.client_secret };
}

/** Cordon-only administration under /api: tokens, apps, enrollment tokens, the audit log. */
export function adminRoutes(auth: AuthService, enrollment: EnrollmentService, audit: AuditService, integrity: AuditIntegrityService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    app.post('/tokens', { config: { access: 'admin.tokens' }, schema: { tags: ['admin'], summary: 'Create an API token', body: CreateToken, response: answers({ 201: CreatedToken }) } }, async (req, reply) => {
      if (!isRole(req.body.role)) throw new Error('unreachable');
      const t = await auth.createTokenWithId(req.body.role, req.body.name, principalOf(req).name);
      return reply.code(201).send({ id: t.id, token: t.token, role: req.body.role });
    });
    app.post('/apps', { config: { access: 'admin.tokens' }, schema: { tags: ['admin'], summary: 'Register an app for client credentials', body: CreateToken, response: answers({ 201: CreatedApp }) } }, async (req, reply) => {
      const a = await auth.createApp(req.body.role, req.body.name, principalOf(req).name);
      return reply.code(201).send({ clientId: a.clientId, clientSecret: a.clientSecret, role: req.body.role });
    });
    app.post('/enrollmentTokens', { config: { access: 'admin.enrollment' }, schema: { tags: ['admin'], summary: 'Create an agent enrollment token', response: answers({ 201: EnrollmentToken }) } }, async (req, reply) =>
      reply.code(201).send(await enrollment.createToken(principalOf(req).name)),
    );
    app.get('/audit', { config: { access: 'audit.read' }, schema: { tags: ['admin'], summary: 'Audit log, newest first', querystring: Paging, response: answers({ 200: AuditList }) } }, async (req) => ({ value: await audit.list(req.query.$top, req.query.$skip) }));
    app.get(
      '/audit/verify',
      { config: { access: 'audit.read' }, schema: { tags: ['admin'], summary: 'Check the audit chain and its signed checkpoints; names the first record that was changed, deleted or inserted', response: answers({ 200: AuditVerification }) } },
      async () => integrity.verify(),
    );
  };
}
