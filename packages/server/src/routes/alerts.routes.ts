import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../http/app.js';
import { ALERT_CLASSIFICATIONS, ALERT_DETERMINATIONS, ALERT_STATUSES } from '@cordon/protocol';
import { FalcoAlertBody, fromFalco, fromGenericBody, GenericAlertBatch, GenericAlertBody, MAX_ALERT_BATCH, MAX_ALERT_BATCH_BYTES, MAX_ALERT_BODY_BYTES } from '../services/alert-sources.js';
import type { AlertsService } from '../services/alerts.service.js';
import type { MachinesService } from '../services/machines.service.js';
import { Alert, AlertBatchResults, AlertList, answers } from '../api/schemas.js';
import type { Clock } from '../clock.js';
import { IdParam, ListQuery, MachineIdParam, listOf, listParams, writtenAsBuilt } from './common.js';

const enumOf = (values: readonly string[]) => z.enum(values as [string, ...string[]], { error: `must be one of ${values.join(', ')}` });

/** What triage may change (MDE's PATCH body); at least one field. */
const changeFields = {
  status: enumOf(ALERT_STATUSES).optional(),
  assignedTo: z.string().trim().min(1).max(256).regex(/^[^\p{Cc}]+$/u, 'must not contain control characters').nullable().optional(),
  classification: enumOf(ALERT_CLASSIFICATIONS).nullable().optional(),
  determination: enumOf(ALERT_DETERMINATIONS).nullable().optional(),
  comment: z.string().trim().min(1).max(4000).optional(),
};
const hasChange = (b: Record<string, unknown>) => Object.keys(changeFields).some((k) => b[k] !== undefined);
const noChange = { message: 'send at least one of status, assignedTo, classification, determination, comment', path: ['status'] };
const PatchBody = z.strictObject(changeFields).refine(hasChange, noChange);
const BatchUpdateBody = z.strictObject({ alertIds: z.array(z.string().min(1).max(128)).min(1).max(500), ...changeFields }).refine(hasChange, noChange);

/** Alerts: the queue (MDE's list, get, update), a device's alerts, and ingestion from other tools. */
export function alertsRoutes(alerts: AlertsService, machines: MachinesService, now: Clock, ingestPerMinute: number) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    // A bucket of its own per sender (groupId), far larger than the API's: alerts come in bursts.
    const ingestLimit = { max: ingestPerMinute, timeWindow: 60_000, groupId: ':ingest' };

    app.get('/alerts', { config: { access: 'alerts.read' }, schema: { tags: ['alerts'], summary: 'List alerts, newest first', querystring: ListQuery, response: answers({ 200: AlertList }) } }, async (req) =>
      listOf('Alerts', await alerts.list(listParams(req.query))),
    );

    app.get('/alerts/:id', { config: { access: 'alerts.read' }, schema: { tags: ['alerts'], summary: 'Get an alert', params: IdParam, response: answers({ 200: Alert }) } }, async (req) => alerts.get(req.params.id));

    app.patch('/alerts/:id', { config: { access: 'alerts.write', audit: { action: 'UpdateAlert', targetType: 'alert' } }, schema: { tags: ['alerts'], summary: 'Update an alert (status, assignedTo, classification, determination, comment)', params: IdParam, body: PatchBody, response: answers({ 200: Alert }) } }, async (req) =>
      alerts.update(principalOf(req), req.params.id, req.body),
    );

    app.post('/alerts/batchUpdate', { config: { access: 'alerts.write', audit: { action: 'UpdateAlert', targetType: 'alert' } }, schema: { tags: ['alerts'], summary: 'Update several alerts at once, all or none', body: BatchUpdateBody, response: answers({ 200: AlertList }) } }, async (req) => {
      const { alertIds, ...change } = req.body;
      return listOf('Alerts', { value: await alerts.updateMany(principalOf(req), alertIds, change) });
    });

    app.get('/machines/:id/alerts', { config: { access: 'alerts.read' }, schema: { tags: ['alerts'], summary: "A device's alerts, newest first", params: MachineIdParam, querystring: ListQuery, response: answers({ 200: AlertList }) } }, async (req) => {
      await machines.row(req.params.id);
      return listOf('Alerts', await alerts.list(listParams(req.query), req.params.id));
    });

    // Ingestion answers 201 with a new alert, 200 with the alert a repeated event was counted on.
    app.post('/alerts', { ...writtenAsBuilt, bodyLimit: MAX_ALERT_BODY_BYTES, config: { access: 'alerts.ingest', rateLimit: ingestLimit, audit: { action: 'IngestAlert', targetType: 'alert' } }, schema: { tags: ['alerts'], summary: "Cordon: send an alert from another tool (the device by machineId or computerDnsName)", body: GenericAlertBody, response: answers({ 200: Alert, 201: Alert }) } }, async (req, reply) => {
      const r = await alerts.ingest(principalOf(req).name, fromGenericBody(req.body, now()));
      return reply.code(r.created ? 201 : 200).send(r.alert);
    });

    // A forwarder's batch (Fluent Bit's or Vector's HTTP output), stored all or none; one request
    // against the ingest limit.
    app.post(
      '/alerts/batch',
      {
        ...writtenAsBuilt,
        bodyLimit: MAX_ALERT_BATCH_BYTES,
        config: { access: 'alerts.ingest', rateLimit: ingestLimit, audit: { action: 'IngestAlert', targetType: 'alert' } },
        schema: { tags: ['alerts'], summary: `Cordon: send up to ${MAX_ALERT_BATCH} alerts at once ({"value": [...]}, each as POST /api/alerts takes it), stored all or none`, body: GenericAlertBatch, response: answers({ 200: AlertBatchResults }) },
      },
      async (req) => {
        const time = now();
        const results = await alerts.ingestAll(principalOf(req).name, req.body.value.map((b) => fromGenericBody(b, time)));
        return { value: results.map((r) => ({ id: r.alert.id, created: r.created, eventCount: r.alert.eventCount })) };
      },
    );

    app.post('/alerts/falco', { ...writtenAsBuilt, bodyLimit: MAX_ALERT_BODY_BYTES, config: { access: 'alerts.ingest', rateLimit: ingestLimit, audit: { action: 'IngestAlert', targetType: 'alert' } }, schema: { tags: ['alerts'], summary: "Cordon: Falco's JSON alert (json_output with http_output pointed here), matched to a device by host name", body: FalcoAlertBody, response: answers({ 200: Alert, 201: Alert }) } }, async (req, reply) => {
      const r = await alerts.ingest(principalOf(req).name, fromFalco(req.body));
      return reply.code(r.created ? 201 : 200).send(r.alert);
    });
  };
}
