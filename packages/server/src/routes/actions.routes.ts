import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ActionParameters, ActionType, IsolationType, ScanType } from '@cordon/protocol';
import { BadRequestError } from '../errors.js';
import { fieldName } from '../http/body.js';
import type { MachinesService } from '../services/machines.service.js';
import { principalOf } from '../http/app.js';
import type { ActionsService } from '../services/actions.service.js';
import { answers, BulkSubmitResult, MachineAction, MachineActionList, ResponseActionList } from '../api/views.js';
import type { ResponseActionsService } from '../services/response-actions.service.js';
import { Comment, IdParam, ListQuery, MachineIdParam, listOf, listParams } from './common.js';

/** Each action endpoint of api.md: its path under /machines/{id}, its type, and its extra body fields. */
const ACTION_ENDPOINTS: { path: string; type: ActionType; body: z.ZodType }[] = [
  { path: 'isolate', type: 'Isolate', body: z.strictObject({ comment: Comment, isolationType: IsolationType }) },
  { path: 'unisolate', type: 'Unisolate', body: z.strictObject({ comment: Comment }) },
  { path: 'collectInvestigationPackage', type: 'CollectInvestigationPackage', body: z.strictObject({ comment: Comment }) },
  { path: 'runAntiVirusScan', type: 'RunAntiVirusScan', body: z.strictObject({ comment: Comment, scanType: ScanType }) },
  { path: 'restrictCodeExecution', type: 'RestrictCodeExecution', body: z.strictObject({ comment: Comment }) },
  { path: 'unrestrictCodeExecution', type: 'UnrestrictCodeExecution', body: z.strictObject({ comment: Comment }) },
  {
    path: 'StopAndQuarantineFile',
    type: 'StopAndQuarantineFile',
    body: z.strictObject({ comment: Comment, ...ActionParameters.StopAndQuarantineFile.shape }).refine((b) => b.sha256 || b.sha1, { message: 'send Sha256 or Sha1', path: ['sha256'] }),
  },
  { path: 'runliveresponse', type: 'LiveResponse', body: z.strictObject({ comment: Comment, ...ActionParameters.LiveResponse.shape }) },
  { path: 'offboard', type: 'Offboard', body: z.strictObject({ comment: Comment }) },
  { path: 'refreshInventory', type: 'RefreshInventory', body: z.strictObject({ comment: Comment }) },
];

const CancelBody = z.strictObject({ comment: Comment });

/** Cordon: one action for many machines, by id list or by a machines $filter (e.g. a tag). */
const BulkBody = z
  .looseObject({
    type: ActionType,
    machineIds: z.array(z.string().min(1).max(64)).min(1).max(10000).optional(),
    filter: z.string().min(1).max(4096).optional(),
  })
  .refine((b) => (b.machineIds === undefined) !== (b.filter === undefined), { message: 'send either MachineIds or Filter', path: ['machineIds'] });

export function actionsRoutes(actions: ActionsService, machines: MachinesService, responseActions: ResponseActionsService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.get(
      '/machines/:id/responseActions',
      { config: { access: 'machines.read' }, schema: { tags: ['machine actions'], summary: "Cordon: which response actions the caller can take on a device now, and why not", params: MachineIdParam, response: answers({ 200: ResponseActionList }) } },
      async (req) => ({ machineId: req.params.id, value: await responseActions.of(principalOf(req), req.params.id) }),
    );

    for (const ep of ACTION_ENDPOINTS) {
      app.post(`/machines/:id/${ep.path}`, { config: { access: 'actions.submit' }, schema: { tags: ['machine actions'], summary: `Submit ${ep.type}`, params: MachineIdParam, body: ep.body, response: answers({ 201: MachineAction }) } }, async (req, reply) => {
        const { comment, ...parameters } = req.body as { comment: string } & Record<string, unknown>;
        const action = await actions.submit(principalOf(req), req.params.id, ep.type, parameters, comment);
        return reply.code(201).send(action);
      });
    }

    app.post('/machineactions/bulk', { config: { access: 'actions.submit' }, schema: { tags: ['machine actions'], summary: 'Cordon: submit one action to many machines (by ids or a machines $filter)', body: BulkBody, response: answers({ 201: BulkSubmitResult }) } }, async (req, reply) => {
      const { type, machineIds, filter, ...rest } = req.body;
      const ep = ACTION_ENDPOINTS.find((e) => e.type === type)!;
      const parsed = ep.body.safeParse(rest);
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
