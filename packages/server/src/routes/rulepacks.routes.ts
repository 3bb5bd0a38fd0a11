import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { MAX_RULEPACK_BYTES } from '@cordon/protocol';
import { principalOf } from '../http/app.js';
import { answers, NoContent, RulePackDetail, RulePackList } from '../api/schemas.js';
import type { RulePacksService } from '../services/rulepacks.service.js';

const text = (what: string) => ({ error: (i: { input: unknown }) => (i.input === undefined ? `is required: ${what}` : 'must be text') });
const NameParam = z.object({ name: z.string().min(1).max(128) });
const UploadBody = z.strictObject({
  // Checked in full by the service (so its message says what a name may be).
  name: z.string(text('the pack\'s name')).max(200),
  description: z.string().trim().max(1000, 'must be at most 1000 characters').nullable().optional(),
  source: z.string(text('the YARA rules')).max(MAX_RULEPACK_BYTES, `must be at most ${MAX_RULEPACK_BYTES} characters`).meta({ description: 'YARA rules (YARA-X dialect; includes are not allowed)' }),
  comment: z.string().trim().max(4000).nullable().optional(),
});
const DeleteQuery = z.object({ comment: z.string().max(4000).optional() });

/** Cordon's rule packs: the YARA rules scans use besides the built-in ones; admins change them. */
export function rulePacksRoutes(rulePacks: RulePacksService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['rule packs'];
    const audit = (action: string) => ({ action, targetType: 'rulepack' as const });

    app.get('/rulepacks', { config: { access: 'rulepacks.read' }, schema: { tags, summary: 'Cordon: list the rule packs in force (the built-in one first)', response: answers({ 200: RulePackList }) } }, async () => ({ value: await rulePacks.list() }));

    app.get('/rulepacks/:name', { config: { access: 'rulepacks.read' }, schema: { tags, summary: 'Cordon: a rule pack with its YARA source and every version', params: NameParam, response: answers({ 200: RulePackDetail }) } }, async (req) =>
      rulePacks.get(req.params.name),
    );

    app.post(
      '/rulepacks',
      {
        bodyLimit: MAX_RULEPACK_BYTES * 2,
        config: { access: 'rulepacks.write', audit: audit('UploadRulePack') },
        schema: {
          tags,
          summary: "Cordon: upload a rule pack, or its next version (201); refused (400 InvalidRulePack, every compiler error in details) when it does not compile, alone or with the packs in force. The version in force sent again answers 200.",
          body: UploadBody,
          response: answers({ 200: RulePackDetail, 201: RulePackDetail }),
        },
      },
      async (req, reply) => {
        const { pack, created } = await rulePacks.upload(principalOf(req), req.body);
        return reply.code(created ? 201 : 200).send(pack);
      },
    );

    app.delete(
      '/rulepacks/:name',
      { config: { access: 'rulepacks.write', audit: audit('DeleteRulePack') }, schema: { tags, summary: 'Cordon: delete a rule pack (every version); agents stop using it at once', params: NameParam, querystring: DeleteQuery, response: answers({ 204: NoContent }) } },
      async (req, reply) => {
        await rulePacks.remove(principalOf(req), req.params.name, req.query.comment ?? null);
        return reply.code(204).send();
      },
    );
  };
}
