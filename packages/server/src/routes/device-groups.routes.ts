import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../http/app.js';
import { answers, DeviceGroup, DeviceGroupList, NoContent } from '../api/schemas.js';
import type { DeviceGroupsService } from '../services/device-groups.service.js';
import { odata, Tag } from './common.js';

const Name = z
  .string()
  .trim()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[^\p{Cc}\p{Cf}]+$/u, 'must not contain control characters or invisible formatting characters');
const Rank = z.number().int('must be a whole number').min(1, 'must be 1 (the highest priority) or more').max(10_000, 'must be at most 10000');
/** The rule's keys are taken as MDE clients spell them too (`Tag`). */
const Rule = z.preprocess(
  (v) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k.length > 0 ? k[0]!.toLowerCase() + k.slice(1) : k, x])) : v),
  z.strictObject({ tag: Tag.meta({ description: 'Devices carrying this tag (set through the API) belong to the group: exact, whatever its case' }) }),
);
const Fields = {
  name: Name.meta({ description: 'Unique, whatever its case' }),
  description: z.string().trim().max(1000, 'must be at most 1000 characters').nullable().optional(),
  rank: Rank.meta({ description: '1 is the highest priority; unique (default: after every other group)' }),
  rule: Rule,
  liveResponseShell: z.boolean().meta({ description: "Allow live response's `shell` on the group's devices (default false)" }),
  comment: z.string().trim().max(4000, 'must be at most 4000 characters').nullable().optional().meta({ description: 'Why (kept in the audit log)' }),
};
const CreateBody = z.strictObject({ ...Fields, rank: Fields.rank.optional(), liveResponseShell: Fields.liveResponseShell.optional() });
const PatchBody = z.strictObject({ name: Fields.name.optional(), description: Fields.description, rank: Fields.rank.optional(), rule: Rule.optional(), liveResponseShell: Fields.liveResponseShell.optional(), comment: Fields.comment });
const GroupIdParam = z.object({ id: z.coerce.number().int().min(1).max(2 ** 31 - 1) });
const DeleteQuery = z.object({ comment: z.string().max(4000).optional() });

/**
 * Cordon: device groups (MDE's machine groups): ranked, each taking the devices its rule matches;
 * analysts read them, admins write them.
 */
export function deviceGroupsRoutes(groups: DeviceGroupsService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['device groups'];
    const write = (action: string) => ({ access: 'groups.write' as const, audit: { action, targetType: 'deviceGroup' as const } });

    app.get('/machinegroups', { config: { access: 'groups.read' }, schema: { tags, summary: 'Cordon: list the device groups, highest priority (rank 1) first', response: answers({ 200: DeviceGroupList }) } }, async () =>
      odata('MachineGroups', await groups.list()),
    );

    app.get('/machinegroups/:id', { config: { access: 'groups.read' }, schema: { tags, summary: 'Cordon: one device group', params: GroupIdParam, response: answers({ 200: DeviceGroup }) } }, async (req) => groups.get(req.params.id));

    app.post(
      '/machinegroups',
      {
        config: write('CreateDeviceGroup'),
        schema: { tags, summary: 'Cordon: add a device group (200 with it). A name or rank another group holds: 400, nothing changed', body: CreateBody, response: answers({ 200: DeviceGroup }) },
      },
      async (req) => groups.create(principalOf(req), req.body),
    );

    app.patch(
      '/machinegroups/:id',
      {
        config: write('UpdateDeviceGroup'),
        schema: { tags, summary: 'Cordon: change a device group (the fields sent; the others stay)', params: GroupIdParam, body: PatchBody, response: answers({ 200: DeviceGroup }) },
      },
      async (req) => groups.update(principalOf(req), req.params.id, req.body),
    );

    app.delete(
      '/machinegroups/:id',
      { config: write('DeleteDeviceGroup'), schema: { tags, summary: 'Cordon: delete a device group (204): its devices join the next group that matches them, or Ungrouped devices', params: GroupIdParam, querystring: DeleteQuery, response: answers({ 204: NoContent }) } },
      async (req, reply) => {
        await groups.remove(principalOf(req), req.params.id, req.query.comment ?? null);
        return reply.code(204).send();
      },
    );
  };
}
