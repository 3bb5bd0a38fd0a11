import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ActionCatalog, ActionSpec } from '@cordon/protocol';
import { roleHas } from '../auth/permissions.js';
import { BadRequestError, ForbiddenError } from '../errors.js';
import { fieldName } from '../http/body.js';
import type { MachinesService } from '../services/machines.service.js';
import { principalOf } from '../http/app.js';
import type { ActionsService } from '../services/actions.service.js';
import { ActionTypeList, answers, BulkSubmitResult, MachineAction, MachineActionList, ResponseActionList } from '../api/schemas.js';
import { actionTypeInfo } from '../api/action-types.js';
import type { ResponseActionsService } from '../services/response-actions.service.js';
import { Comment, IdParam, ListQuery, MachineIdParam, listOf, listParams } from './common.js';

/** The body of an action's endpoint: its catalog fields and the comment every action needs. */
function bodyOf(spec: ActionSpec): z.ZodType {
  const body = z.strictObject({ comment: Comment, ...spec.body });
  const rule = spec.bodyRule;
  return rule ? body.refine((b) => rule.check(b), { message: rule.message, path: [rule.field] }) : body;
}

const CancelBody = z.strictObject({ comment: Comment });

/** Cordon: one action for many machines, by id list or by a machines $filter (e.g. a tag). */
const bulkBody = (catalog: ActionCatalog) => z
  .looseObject({
    type: z.enum(catalog.types() as [string, ...string[]]),
    machineIds: z.array(z.string().min(1).max(64)).min(1).max(10000).optional(),
    filter: z.string().min(1).max(4096).optional(),
  })
  .refine((b) => (b.machineIds === undefined) !== (b.filter === undefined), { message: 'send either MachineIds or Filter', path: ['machineIds'] });

/** The machine-action routes: one endpoint per action of the catalog (MDE paths), the Action center, bulk and cancel. */
export function actionsRoutes(actions: ActionsService, machines: MachinesService, responseActions: ResponseActionsService, catalog: ActionCatalog) {
  const bodies = new Map(catalog.actions.map((spec) => [spec.type, bodyOf(spec)]));
  const BulkBody = bulkBody(catalog);
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.get('/actionTypes', { config: { access: 'actions.read' }, schema: { tags: ['machine actions'], summary: 'Cordon: every machine-action type, as clients show and submit it', response: answers({ 200: ActionTypeList }) } }, () => ({
      value: catalog.actions.map(actionTypeInfo),
    }));

    app.get(
      '/machines/:id/responseActions',
      { config: { access: 'machines.read' }, schema: { tags: ['machine actions'], summary: "Cordon: which response actions the caller can take on a device now, and why not", params: MachineIdParam, response: answers({ 200: ResponseActionList }) } },
      async (req) => ({ machineId: req.params.id, value: await responseActions.of(principalOf(req), req.params.id) }),
    );

    for (const spec of catalog.actions) {
      app.post(`/machines/:id/${spec.path}`, { config: { access: spec.permission, audit: { action: spec.type, targetType: 'machine' } }, schema: { tags: ['machine actions'], summary: `${spec.label} (${spec.type})`, params: MachineIdParam, body: bodies.get(spec.type)!, response: answers({ 201: MachineAction }) } }, async (req, reply) => {
        const { comment, ...parameters } = req.body as { comment: string } & Record<string, unknown>;
        const action = await actions.submit(principalOf(req), req.params.id, spec.type, parameters, comment);
        return reply.code(201).send(action);
      });
    }

    app.post('/machineactions/bulk', { config: { access: 'actions.submit' }, schema: { tags: ['machine actions'], summary: 'Cordon: submit one action to many machines (by ids or a machines $filter)', body: BulkBody, response: answers({ 201: BulkSubmitResult }) } }, async (req, reply) => {
      const { type, machineIds, filter, ...rest } = req.body;
      // The route lets any submitter in; the action itself may need more.
      const permission = catalog.get(type)!.permission;
      if (!roleHas(principalOf(req).role, permission)) throw new ForbiddenError(permission, principalOf(req).role);
      const parsed = bodies.get(type)!.safeParse(rest);
      if (!parsed.success) {
        const issue = parsed.error.issues[0]!;
        const key = issue.code === 'unrecognized_keys' ? issue.keys[0]! : issue.path.join('/');
        const name = fieldName(key, req.bodySpelling ?? {});
        throw new BadRequestError(`${name}: ${issue.message}`, name);
      }
      const { comment, ...parameters } = parsed.data as { comment: string } & Record<string, unknown>;
      const ids = machineIds ?? (await machines.idsMatching(filter!, 10000));
      return reply.code(201).send(await actions.submitMany(principalOf(req), ids, type, parameters, comment));
    });

    app.get('/machineactions', { config: { access: 'actions.read' }, schema: { tags: ['machine actions'], summary: 'List machine actions, newest first', querystring: ListQuery, response: answers({ 200: MachineActionList }) } }, async (req) =>
      listOf('MachineActions', await actions.list(listParams(req.query))),
    );

    app.get('/machineactions/:id', { config: { access: 'actions.read' }, schema: { tags: ['machine actions'], summary: 'Get a machine action', params: IdParam, response: answers({ 200: MachineAction }) } }, async (req) => actions.get(req.params.id));

    app.post('/machineactions/:id/cancel', { config: { access: 'actions.cancel' }, schema: { tags: ['machine actions'], summary: 'Cancel a pending action', params: IdParam, body: CancelBody, response: answers({ 200: MachineAction }) } }, async (req) =>
      actions.cancel(principalOf(req), req.params.id, req.body.comment),
    );
  };
}
