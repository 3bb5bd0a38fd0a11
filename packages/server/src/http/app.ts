import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import { MemoryCounters, type Counters } from '../services/counters.js';
import { countersStore } from './rate-limit-store.js';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import websocket from '@fastify/websocket';
import { timingSafeEqual } from 'node:crypto';
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { openApiComponents } from '../api/openapi.js';
import type { Logger } from 'pino';
import { roleHas, type Principal, type RouteAccess } from '../auth/permissions.js';
import { ApiError, BadRequestError, ForbiddenError, PayloadTooLargeError, StoreUnavailableApiError, TooManyRequestsError, UnauthorizedError } from '../errors.js';
import { isStoreUnreachable } from '../db/portable.js';
import type { Metrics } from '../metrics.js';
import type { AuthService } from '../services/auth.service.js';
import type { UsersService } from '../services/users.service.js';
import type { AuditService } from '../services/audit.service.js';
import { auditRefusals, SAFE_METHODS } from './refusal-audit.js';
import { invalidBody, normalizeBodyKeys, pathOfNul, refuseNul } from './body.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The permission a route needs; every route must declare one (or 'public'). */
    access?: RouteAccess;
  }
  interface FastifyInstance {
    /** Every route with the access it declared, for the tests that check none was forgotten. */
    routeTable: { method: string; url: string; access: RouteAccess }[];
    /** Whether the request's credential is still valid and still grants its route's access. */
    stillAuthorized(req: FastifyRequest): Promise<boolean>;
    /** Who the request's credential names now (null: it no longer holds); a store that cannot answer throws. */
    principalNow(req: FastifyRequest): Promise<Principal | null>;
    /** Counts one more request against the caller's per-minute budget (a message on a socket); throws 429 past it. */
    spendRequest(req: FastifyRequest): Promise<void>;
  }
  interface FastifyRequest {
    principal?: Principal;
    /** Set when the caller signed in with a session cookie (the console), not a bearer token. */
    session?: { id: string; csrfToken: string };
    bodySpelling?: Record<string, string>;
  }
}

/** Who is calling; routes only run after the access hook set it, so this never fails in practice. */
export function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new UnauthorizedError();
  return req.principal;
}

export interface AppDeps {
  auth: AuthService;
  metrics: Metrics;
  logger: Logger;
  bodyLimit: number;
  rateLimitPerMinute: number;
  /** Where request counts are kept (several nodes share them); in memory by default. */
  counters?: Counters;
  /** Proxies whose forwarded headers are believed (none: a client cannot claim HTTPS or another address). */
  trustProxy?: string[];
  users?: UsersService;
  /** Where refused requests are audited (omitted only by tests of the shell alone). */
  audit?: AuditService;
}

/** The console's session cookie: HttpOnly and SameSite=Strict, so scripts and other sites never see or send it. */
export const SESSION_COOKIE = 'cordon_session';

const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/** Whether the request says it comes from a page of this very server: its Origin is the scheme and host it asked (as a trusted proxy says them). */
function sameOrigin(req: FastifyRequest): boolean {
  const origin = req.headers.origin;
  if (!origin) return false;
  try {
    return new URL(origin).origin === new URL(`${req.protocol}://${req.host}`).origin;
  } catch {
    return false;
  }
}

const sameSecret = (a: string, b: string): boolean => a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));

/**
 * The HTTP app shell: validation, the single error handler, and access control that a route
 * cannot forget — a route without a declared `access` fails at registration.
 */
export async function createHttpApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, bodyLimit: deps.bodyLimit, trustProxy: deps.trustProxy?.length ? deps.trustProxy : false, logController: new LogController({ disableRequestLogging: true }), routerOptions: { ignoreTrailingSlash: true } }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  const routeTable: FastifyInstance['routeTable'] = [];
  app.decorate('routeTable', routeTable);
  app.addHook('onRoute', (route) => {
    if (route.method === 'HEAD' || route.url.startsWith('/api/docs')) return;
    const access = route.config?.access;
    if (!access) throw new Error(`Route ${String(route.method)} ${route.url} declares no access permission`);
    routeTable.push({ method: String(route.method), url: route.url, access });
    // The /api/v1.0 aliases are the same API: documented once, under /api.
    if (route.url.startsWith('/api/v1.0')) route.schema = { ...route.schema, hide: true };
  });

  await app.register(formbody);
  await app.register(cookie);
  let countFailure: ReturnType<FastifyInstance['createRateLimit']> | null = null;
  if (deps.rateLimitPerMinute > 0) {
    await app.register(rateLimit, {
      global: true,
      max: deps.rateLimitPerMinute,
      timeWindow: 60_000,
      // Counted after authentication: one bucket per authenticated caller, else per address, so
      // made-up tokens cannot each buy a fresh bucket.
      hook: 'preHandler',
      store: countersStore(deps.counters ?? new MemoryCounters()),
      keyGenerator: (req) => (req.principal ? `p:${req.principal.id}` : `ip:${req.ip}`),
      errorResponseBuilder: (_req, ctx) => new TooManyRequestsError(Math.max(1, Math.ceil(ctx.ttl / 1000))),
    });
    // The same store and key: a request whose credential fails is counted against its address
    // (no principal yet, so `ip:<address>`), in the bucket unauthenticated requests share.
    countFailure = app.createRateLimit();
  }
  const countRequest = deps.rateLimitPerMinute > 0 ? app.createRateLimit() : null;
  app.decorate('spendRequest', async (req: FastifyRequest): Promise<void> => {
    if (!countRequest) return;
    const r = await countRequest(req);
    if (!r.isAllowed && r.isExceeded) throw new TooManyRequestsError(Math.max(1, r.ttlInSeconds));
  });
  // Sockets (a live-response session's) go through the same hooks as any request: their upgrade is authenticated and checked.
  await app.register(websocket, { options: { maxPayload: 64 * 1024 } });
  await app.register(swagger, {
    openapi: {
      info: { title: 'Cordon API', version: '0.1.0', description: 'Endpoint response actions with the shape of the MDE machine-actions API.' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
    transform: jsonSchemaTransform,
    transformObject: openApiComponents,
  });
  await app.register(swaggerUi, { routePrefix: '/api/docs' });

  app.addHook('preValidation', async (req) => {
    if (req.body !== undefined && req.headers['content-type']?.includes('json')) {
      const { body, spelling } = normalizeBodyKeys(req.body);
      req.body = body;
      req.bodySpelling = spelling;
      refuseNul(body, spelling);
    }
    const nulInQuery = pathOfNul(req.query);
    if (nulInQuery !== null) throw new BadRequestError(`${nulInQuery.slice(1) || 'query'} must not contain NUL characters`, nulInQuery.slice(1) || 'query', 'InvalidInput');
  });

  /** Who sent the request, by bearer token or session cookie; throws 401 when neither is valid. */
  const authenticate = async (req: FastifyRequest): Promise<{ principal: Principal; session?: { id: string; csrfToken: string } }> => {
    const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (m) return { principal: await deps.auth.authenticate(m[1]!) };
    // Falco's http_output cannot send headers: the ingest endpoints also take the token in the URL
    // (`?token=`), and then only a token of the ingest role, which can do nothing but send alerts.
    const inUrl = (req.query as Record<string, unknown> | undefined)?.token;
    if (typeof inUrl === 'string' && req.routeOptions.config?.access === 'alerts.ingest') {
      const principal = await deps.auth.authenticate(inUrl);
      if (principal.role !== 'ingest') throw new UnauthorizedError('A token in the URL is taken only from the ingest role; send others as Authorization: Bearer <token>');
      return { principal };
    }
    const sessionId = req.cookies[SESSION_COOKIE];
    if (!sessionId || !deps.users) throw new UnauthorizedError();
    const s = await deps.users.authenticateSession(sessionId);
    return { principal: s.principal, session: { id: sessionId, csrfToken: s.csrfToken } };
  };

  app.addHook('onRequest', async (req) => {
    const access = req.routeOptions.config?.access;
    if (!access || access === 'public') return;
    const { principal, session } = await authenticate(req).catch(async (e: unknown) => {
      // The 401 is answered before the per-caller limit runs (preHandler), so invalid credentials
      // are counted here, per address: someone guessing tokens or session ids gets 429 once the
      // address is over its budget. A valid token is never refused for its address's failures:
      // it keeps its own per-token budget, so a guesser behind a shared NAT cannot lock others out.
      if (e instanceof UnauthorizedError && countFailure) {
        const r = await countFailure(req);
        if (!r.isAllowed && r.isExceeded) throw new TooManyRequestsError(Math.max(1, r.ttlInSeconds));
      }
      throw e;
    });
    // A cookie is sent by the browser on its own: a state change must also prove it comes from the console.
    // A socket's upgrade is a GET the browser adds no header to: it must come from the console's own page (audited when not).
    if (session && req.headers.upgrade && !sameOrigin(req)) {
      req.principal = principal;
      throw new ApiError(403, 'CrossOriginSocket', 'A socket signed in by the session cookie opens only from the console itself');
    }
    if (session && !SAFE_METHODS.has(req.method)) {
      const sent = req.headers['x-csrf-token'];
      if (typeof sent !== 'string' || !sameSecret(sent, session.csrfToken)) throw new ApiError(403, 'CsrfTokenMissing', 'Send the x-csrf-token header of your session with every change');
    }
    req.principal = principal;
    req.session = session;
  });
  // The role is checked once the body is read (but before it is validated), so a permission
  // refusal is audited with the reason the caller gave; strangers were turned away above, unread.
  app.addHook('preValidation', async (req) => {
    const access = req.routeOptions.config?.access;
    if (!access || access === 'public' || !req.principal) return;
    if (!roleHas(req.principal.role, access)) throw new ForbiddenError(access, req.principal.role);
  });

  // Long-lived answers (the event stream) ask again now and then: a signed-out session, a revoked
  // token or a lowered role ends them.
  const principalNow = async (req: FastifyRequest): Promise<Principal | null> => {
    try {
      return (await authenticate(req)).principal;
    } catch (e) {
      if (e instanceof UnauthorizedError) return null;
      throw e;
    }
  };
  app.decorate('principalNow', principalNow);
  app.decorate('stillAuthorized', async (req: FastifyRequest): Promise<boolean> => {
    const access = req.routeOptions.config?.access;
    if (!access || access === 'public') return true;
    try {
      const principal = await principalNow(req);
      return principal !== null && roleHas(principal.role, access);
    } catch {
      // A store that cannot answer revokes nothing: the next check decides.
      return true;
    }
  });

  // Security headers on every answer; the browsable API docs need their own scripts and styles.
  app.addHook('onSend', async (req, reply) => {
    void reply.header('x-content-type-options', 'nosniff');
    void reply.header('referrer-policy', 'no-referrer');
    void reply.header('x-frame-options', 'DENY');
    // No inline script, ever. Inline styles are allowed: the component library sets its theme's CSS
    // variables in a <style> element; a style cannot run code.
    if (!req.url.startsWith('/api/docs')) void reply.header('content-security-policy', CONTENT_SECURITY_POLICY);
  });

  if (deps.audit) auditRefusals(app, deps.audit, deps.metrics);

  app.addHook('onResponse', async (req, reply) => {
    deps.metrics.httpDuration.observe({ method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });

  app.setNotFoundHandler(async (req, reply) => {
    await reply.code(404).send({ error: { code: 'ResourceNotFound', message: `No route for ${req.method} ${req.url.split('?')[0]}` } });
  });

  app.setErrorHandler(async (err: FastifyError, req: FastifyRequest, reply: FastifyReply) => {
    const apiError = toApiError(err, req);
    if (apiError.status >= 500) req.log.error({ err }, 'request failed');
    for (const [k, v] of Object.entries(apiError.headers)) void reply.header(k, v);
    // Compact JSON: MDE clients match the error text byte for byte.
    await reply.code(apiError.status).type('application/json').send(JSON.stringify(apiError.toBody()));
  });

  return app as unknown as FastifyInstance;
}

function toApiError(err: FastifyError, req: FastifyRequest): ApiError {
  if (err instanceof ApiError) return err;
  if (isStoreUnreachable(err)) return new StoreUnavailableApiError();
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issue = err.validation[0]!;
    const where = (err as { validationContext?: string }).validationContext ?? 'body';
    const keys = (issue.params as { keys?: string[] }).keys;
    if (where === 'body') {
      const unknownKey = issue.keyword === 'unrecognized_keys' ? keys?.[0] : undefined;
      return invalidBody({ path: issue.instancePath, message: issue.message ?? 'is not valid', unknownKey }, req.bodySpelling ?? {}, 'request body');
    }
    const name = issue.instancePath.split('/').filter(Boolean).join('.') || where;
    return new BadRequestError(`${name}: ${issue.message}`, name, 'InvalidInput');
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') return new PayloadTooLargeError(`The request body is larger than the ${req.routeOptions.bodyLimit} bytes allowed here`, 'PayloadTooLarge', 'body');
  if (err.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new BadRequestError('Send the body as application/json', 'body');
  if (err.code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return new BadRequestError('The request body is empty; send a JSON object', 'body');
  if (err.statusCode === 400 && /JSON/i.test(err.message)) return new BadRequestError(`The request body is not valid JSON: ${err.message}`, 'body');
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) return new ApiError(err.statusCode, 'InvalidRequest', err.message);
  return new ApiError(500, 'InternalError', 'The server failed to handle this request; the error is in its log');
}
