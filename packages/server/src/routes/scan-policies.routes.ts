import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ScanCpuPercent } from '@cordon/protocol';
import { principalOf } from '../http/app.js';
import { answers, NoContent, ScanPolicy, ScanPolicyList } from '../api/schemas.js';
import type { ScanPolicyService } from '../services/scan-policy.service.js';
import { odata, Tag } from './common.js';

const PolicyBody = z.strictObject({
  cpuPercent: ScanCpuPercent.meta({ description: "Share of the device's CPU (all cores, percent) a scan may use when the analyst gives none" }),
  comment: z.string().trim().max(4000).nullable().optional(),
});
const TagParam = z.object({ tag: Tag });
const DeleteQuery = z.object({ comment: z.string().max(4000).optional() });

/** Cordon: scan policies, globally and per device tag (what a scan may use of a device's CPU). */
export function scanPoliciesRoutes(policies: ScanPolicyService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['scan policies'];
    const write = (action: string) => ({ access: 'policy.write' as const, audit: { action, targetType: 'scanPolicy' as const } });

    app.get('/scanPolicies', { config: { access: 'policy.read' }, schema: { tags, summary: 'Cordon: list scan policies (those that were set)', response: answers({ 200: ScanPolicyList }) } }, async () => odata('ScanPolicies', await policies.list()));

    app.get('/scanPolicies/global', { config: { access: 'policy.read' }, schema: { tags, summary: 'Cordon: the global scan policy (404 until set)', response: answers({ 200: ScanPolicy }) } }, async () => policies.get(null));
    app.put('/scanPolicies/global', { config: write('SetScanPolicy'), schema: { tags, summary: 'Cordon: set the global scan policy', body: PolicyBody, response: answers({ 200: ScanPolicy }) } }, async (req) =>
      policies.set(principalOf(req), null, req.body.cpuPercent, req.body.comment ?? null),
    );
    app.delete('/scanPolicies/global', { config: write('DeleteScanPolicy'), schema: { tags, summary: 'Cordon: remove the global scan policy (agents use their own default, 50 %)', querystring: DeleteQuery, response: answers({ 204: NoContent }) } }, async (req, reply) => {
      await policies.remove(principalOf(req), null, req.query.comment ?? null);
      return reply.code(204).send();
    });

    app.get('/scanPolicies/tags/:tag', { config: { access: 'policy.read' }, schema: { tags, summary: 'Cordon: the scan policy of a tag (404 if none)', params: TagParam, response: answers({ 200: ScanPolicy }) } }, async (req) => policies.get(req.params.tag));
    app.put('/scanPolicies/tags/:tag', { config: write('SetScanPolicy'), schema: { tags, summary: "Cordon: set a tag's scan policy (a device with several tags gets the lowest share)", params: TagParam, body: PolicyBody, response: answers({ 200: ScanPolicy }) } }, async (req) =>
      policies.set(principalOf(req), req.params.tag, req.body.cpuPercent, req.body.comment ?? null),
    );
    app.delete('/scanPolicies/tags/:tag', { config: write('DeleteScanPolicy'), schema: { tags, summary: "Cordon: remove a tag's scan policy", params: TagParam, querystring: DeleteQuery, response: answers({ 204: NoContent }) } }, async (req, reply) => {
      await policies.remove(principalOf(req), req.params.tag, req.query.comment ?? null);
      return reply.code(204).send();
    });
  };
}
