import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { answers, QuarantinedFileList } from '../api/schemas.js';
import type { QuarantineService } from '../services/quarantine.service.js';
import { MachineIdParam, odata } from './common.js';

/** Cordon: a device's quarantined files (the action that restores one is in the catalog: restoreQuarantinedFile). */
export function quarantineRoutes(quarantine: QuarantineService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    app.get(
      '/machines/:id/quarantine',
      { config: { access: 'machines.read' }, schema: { tags: ['machines'], summary: "Cordon: the device's quarantined files, newest first (restored ones too, with state Restored)", params: MachineIdParam, response: answers({ 200: QuarantinedFileList }) } },
      async (req) => odata('QuarantinedFiles', await quarantine.list(req.params.id)),
    );
  };
}
