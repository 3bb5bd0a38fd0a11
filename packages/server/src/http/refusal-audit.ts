import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Metrics } from '../metrics.js';
import type { AuditEntry, AuditService } from '../services/audit.service.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** How a refused request on this route reads in the audit log (default: the method and route). */
    audit?: { action: string; targetType?: AuditEntry['targetType'] };
  }
  interface FastifyRequest {
    /** The error the request ended with, kept for the refusal's audit record. */
    failure?: Error;
  }
}

/** Methods that change nothing: a refused one is audited only when the refusal is a permission's. */
export const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** What a route's `:id` names, from where the route lives. */
function targetTypeOf(url: string): AuditEntry['targetType'] {
  if (url.includes('/machineactions/')) return 'action';
  if (url.includes('/isolationPolicies')) return 'isolationPolicy';
  if (url.includes('/alerts/')) return 'alert';
  if (url.includes('/machines/')) return 'machine';
  if (url.includes('/indicators')) return 'indicator';
  return 'request';
}

/** The reason the caller gave, whatever the spelling MDE clients use. */
function commentOf(body: unknown): string | null {
  if (!body || typeof body !== 'object') return null;
  for (const [k, v] of Object.entries(body)) if (k.toLowerCase() === 'comment' && typeof v === 'string') return v.slice(0, 4000);
  return null;
}

/**
 * Audits refusals: a signed-in caller refused a permission (any method), or a change that failed
 * validation or named something that does not exist (4xx). Services that audit a refusal
 * themselves mark the error (`markAudited`), so each refusal is one record. A caller nobody could
 * identify (401) is counted in metrics only: the audit log never carries a name a stranger chose.
 */
export function auditRefusals(app: FastifyInstance, audit: AuditService, metrics: Metrics): void {
  app.addHook('onError', async (req, _reply, error) => {
    req.failure = error;
  });
  // Before the answer leaves (onSend, not onResponse): a caller that saw its refusal finds it in
  // the audit log, whichever engine or node it asks next.
  app.addHook('onSend', async (req, reply, payload) => {
    const status = reply.statusCode;
    if (status === 401) metrics.unauthenticated.inc({ route: req.routeOptions.url ?? 'unknown' });
    else if (isAuditedRefusal(req, status)) await audit.record(refusal(req, status)).catch(() => metrics.auditWriteFailures.inc());
    return payload;
  });
}

function isAuditedRefusal(req: FastifyRequest, status: number): boolean {
  if (status < 400 || status >= 500 || status === 429 || !req.principal) return false;
  if ((req.failure as { audited?: boolean } | undefined)?.audited) return false;
  return status === 403 || !SAFE_METHODS.has(req.method);
}

function refusal(req: FastifyRequest, status: number): AuditEntry {
  const route = req.routeOptions.url ?? req.url.split('?')[0]!;
  const id = (req.params as { id?: unknown } | undefined)?.id;
  const declared = req.routeOptions.config?.audit;
  return {
    actor: req.principal!.name,
    action: declared?.action ?? `${req.method} ${route}`,
    targetType: declared?.targetType ?? targetTypeOf(route),
    targetId: typeof id === 'string' ? id.slice(0, 512) : null,
    comment: commentOf(req.body),
    outcome: 'Refused',
    detail: { status, reason: req.failure?.message.slice(0, 1000) ?? null, method: req.method, path: req.url.split('?')[0]!.slice(0, 1000) },
  };
}
