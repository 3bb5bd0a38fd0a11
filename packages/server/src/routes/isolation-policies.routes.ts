import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BadRequestError } from '../errors.js';
import { principalOf } from '../http/app.js';
import type { IsolationPolicyService } from '../services/isolation-policy.service.js';
import type { ReleaseTokenService } from '../services/release-token.service.js';
import { answers, EffectiveIsolationPolicy, IsolationPolicy, IsolationPolicyList, NoContent, ReleaseToken } from '../api/schemas.js';
import { Comment, MachineIdParam, Tag, odata } from './common.js';

/** Entries are checked one by one in the service, so an error names the entry (`Allow.2.destination`). */
const PolicyBody = z.strictObject({ comment: Comment, allow: z.array(z.unknown()) });
const TagParam = z.object({ tag: Tag });
const DeleteBody = z.strictObject({ comment: Comment.optional() }).nullish();
const DeleteQuery = z.object({ comment: z.string().max(4000).optional() });
const ReleaseTokenBody = z.strictObject({
  comment: Comment,
  expiresInHours: z.number().int('must be a whole number of hours').min(1, 'must be at least 1').max(720, 'must be at most 720 (30 days)').default(24),
});

/**
 * Cordon-only isolation administration: selective-isolation policies (global and per tag), a
 * machine's effective allow list, and break-glass release tokens.
 */
export function isolationRoutes(policies: IsolationPolicyService, releaseTokens: ReleaseTokenService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['isolation'];

    app.get('/isolationPolicies', { config: { access: 'policy.read' }, schema: { tags, summary: 'List selective-isolation policies (those that were set)', response: answers({ 200: IsolationPolicyList }) } }, async () => odata('IsolationPolicies', await policies.list()));

    app.get('/isolationPolicies/global', { config: { access: 'policy.read' }, schema: { tags, summary: 'The global selective-isolation policy (an empty allow list until set)', response: answers({ 200: IsolationPolicy }) } }, async () => policies.get(null));

    app.put('/isolationPolicies/global', { config: { access: 'policy.write' }, schema: { tags, summary: 'Replace the global selective-isolation policy', body: PolicyBody, response: answers({ 200: IsolationPolicy }) } }, async (req) =>
      policies.set(principalOf(req), null, req.body.allow, req.body.comment),
    );

    app.get('/isolationPolicies/tags/:tag', { config: { access: 'policy.read' }, schema: { tags, summary: 'The selective-isolation policy of a tag (404 if none)', params: TagParam, response: answers({ 200: IsolationPolicy }) } }, async (req) => policies.get(req.params.tag));

    app.put('/isolationPolicies/tags/:tag', { config: { access: 'policy.write' }, schema: { tags, summary: 'Replace the selective-isolation policy of a tag', params: TagParam, body: PolicyBody, response: answers({ 200: IsolationPolicy }) } }, async (req) =>
      policies.set(principalOf(req), req.params.tag, req.body.allow, req.body.comment),
    );

    app.delete(
      '/isolationPolicies/tags/:tag',
      { config: { access: 'policy.write' }, schema: { tags, summary: 'Delete the selective-isolation policy of a tag (Comment in the body or ?comment=)', params: TagParam, body: DeleteBody, querystring: DeleteQuery, response: answers({ 204: NoContent }) } },
      async (req, reply) => {
        const comment = req.body?.comment ?? Comment.safeParse(req.query.comment).data;
        if (!comment) throw new BadRequestError('Comment is required: say why you delete this policy (in the body, or as ?comment=)', 'Comment');
        await policies.remove(principalOf(req), req.params.tag, comment);
        return reply.code(204).send();
      },
    );

    app.get('/machines/:id/isolationPolicy', { config: { access: 'policy.read' }, schema: { tags, summary: "A machine's effective selective-isolation allow list, each entry with the policies it comes from", params: MachineIdParam, response: answers({ 200: EffectiveIsolationPolicy }) } }, async (req) =>
      policies.effective(req.params.id),
    );

    app.post('/machines/:id/releaseToken', { config: { access: 'isolation.breakGlass' }, schema: { tags, summary: 'Issue an offline (break-glass) release token for one device', params: MachineIdParam, body: ReleaseTokenBody, response: answers({ 201: ReleaseToken }) } }, async (req, reply) =>
      reply.code(201).send(await releaseTokens.issue(principalOf(req), req.params.id, req.body.comment, req.body.expiresInHours)),
    );
  };
}
