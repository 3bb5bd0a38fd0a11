import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { isIP } from 'node:net';
import { z } from 'zod';
import { BadRequestError } from '../errors.js';
import { principalOf } from '../http/app.js';
import { TAG_ACTIONS, type MachinesService } from '../services/machines.service.js';
import type { TimelineService } from '../services/timeline.service.js';
import { answers, Machine, MachineList, TimelineEventList } from '../api/schemas.js';
import { ListQuery, MachineIdParam, Tag, listOf, listParams, odata } from './common.js';

const TagBody = z.strictObject({ value: Tag, action: z.enum(TAG_ACTIONS) });
const BulkTagBody = z.strictObject({ value: Tag, action: z.enum(TAG_ACTIONS), machineIds: z.array(z.string().min(1).max(64)).min(1).max(500) });
const TimelineQuery = z.object({
  $top: z.coerce.number().int().min(1).max(1000).default(100),
  $skip: z.coerce.number().int().min(0).default(0),
  eventType: z.string().max(512).optional(),
  from: z.iso.datetime().optional(),
  to: z.iso.datetime().optional(),
});

/** `findbyip(ip='10.1.2.3',timestamp=2026-11-22T10:00:00Z)`, as MDE spells it in the path. */
function parseFindByIp(segment: string): { ip: string; timestamp: Date } | null {
  const m = /^findbyip\(ip='([^']{1,64})',timestamp=([^)]{1,40})\)$/i.exec(segment);
  if (!m) return null;
  const ip = m[1]!;
  const ts = Date.parse(m[2]!.replace(/^'|'$/g, ''));
  if (!isIP(ip)) throw new BadRequestError(`'${ip}' is not an IP address`, 'ip', 'InvalidInput');
  if (Number.isNaN(ts)) throw new BadRequestError(`'${m[2]}' is not a timestamp such as 2026-11-22T10:00:00Z`, 'timestamp', 'InvalidInput');
  return { ip, timestamp: new Date(ts) };
}

export function machinesRoutes(machines: MachinesService, timeline: TimelineService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();

    app.get('/machines', { config: { access: 'machines.read' }, schema: { tags: ['machines'], summary: 'List machines', querystring: ListQuery, response: answers({ 200: MachineList }) } }, async (req) =>
      listOf('Machines', await machines.list(listParams(req.query))),
    );

    app.get('/machines/:id', { config: { access: 'machines.read' }, schema: { tags: ['machines'], summary: 'Get a machine (or, for findbyip(ip=…,timestamp=…), the list of machines seen with that IP)', params: MachineIdParam, response: answers({ 200: z.union([Machine, MachineList]) }) } }, async (req) => {
      if (/^findbyip\(/i.test(req.params.id)) {
        const q = parseFindByIp(req.params.id);
        if (!q) throw new BadRequestError("Use findbyip(ip='10.1.2.3',timestamp=2026-11-22T10:00:00Z)", 'id', 'InvalidInput');
        return odata('Machines', await machines.findByIp(q.ip, q.timestamp));
      }
      return machines.get(req.params.id);
    });

    app.get('/machines/:id/timeline', { config: { access: 'timeline.read' }, schema: { tags: ['machines'], summary: 'Device timeline, newest first', params: MachineIdParam, querystring: TimelineQuery, response: answers({ 200: TimelineEventList }) } }, async (req) => {
      await machines.row(req.params.id);
      const types = req.query.eventType?.split(',').map((s) => s.trim()).filter(Boolean);
      return odata('TimelineEvents', await timeline.list(req.params.id, { top: req.query.$top, skip: req.query.$skip, types, from: req.query.from, to: req.query.to }));
    });

    app.post('/machines/:id/tags', { config: { access: 'tags.write' }, schema: { tags: ['machines'], summary: 'Add or remove a tag', params: MachineIdParam, body: TagBody, response: answers({ 200: Machine }) } }, async (req) =>
      machines.setTag(principalOf(req), req.params.id, req.body.value, req.body.action),
    );

    app.post('/machines/AddOrRemoveTagForMultipleMachines', { config: { access: 'tags.write' }, schema: { tags: ['machines'], summary: 'Add or remove a tag on many machines', body: BulkTagBody, response: answers({ 200: MachineList }) } }, async (req) =>
      odata('Machines', await machines.setTagMany(principalOf(req), req.body.machineIds, req.body.value, req.body.action)),
    );
  };
}
