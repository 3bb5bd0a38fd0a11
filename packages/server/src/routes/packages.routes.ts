import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { principalOf } from '../http/app.js';
import type { MachinesService } from '../services/machines.service.js';
import type { PackagesService } from '../services/packages.service.js';
import { answers, PackageInfoList, PackageUri } from '../api/schemas.js';
import { IdParam, MachineIdParam, odata } from './common.js';

/**
 * Streamed as it is, never serialized: the schema only documents it. (Its errors are JSON, but
 * `produces` would label them application/zip in the document, so they are left undocumented.)
 */
const ZipStream = z.custom<Readable>().meta({ type: 'string', format: 'binary', description: 'The zip; its SHA-256 is in x-content-sha256' });

const DownloadQuery = z.object({
  expires: z.coerce.number().int().positive(),
  signature: z.string().max(128),
});

/** `publicApiUrl` answers the URL users reach the API at: links never come from a client's Host header. */
export function packagesRoutes(packages: PackagesService, machines: MachinesService, publicApiUrl: () => string) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['investigation packages'];

    // Packages hold a device's secrets-adjacent data (histories, accounts): analysts and up.
    app.get('/machineactions/:id/GetPackageUri', { config: { access: 'packages.read' }, schema: { tags, summary: 'A short-lived download URL of the investigation package', params: IdParam, response: answers({ 200: PackageUri }) } }, async (req) =>
      packages.packageUri(principalOf(req), req.params.id, publicApiUrl()),
    );

    // Public by design: the signed, expiring URL is the credential (MDE clients fetch it without a token).
    app.get('/packages/:id/download', { config: { access: 'public' }, schema: { tags, summary: 'Download a package through a URL from GetPackageUri', params: IdParam, querystring: DownloadQuery, produces: ['application/zip'], response: { 200: ZipStream } } }, async (req, reply) => {
      const p = await packages.download(req.params.id, req.query.expires, req.query.signature);
      return reply
        .header('content-type', 'application/zip')
        .header('content-length', String(p.size))
        // The name holds only [A-Za-z0-9._-] (packageFileName), so it needs no quoting beyond this.
        .header('content-disposition', `attachment; filename="${p.fileName}"`)
        .header('x-content-sha256', p.sha256)
        .send(p.stream);
    });

    app.get('/machines/:id/packages', { config: { access: 'packages.read' }, schema: { tags, summary: "Cordon: a device's investigation packages, newest first", params: MachineIdParam, response: answers({ 200: PackageInfoList }) } }, async (req) => {
      await machines.row(req.params.id);
      return odata('Packages', await packages.ofMachine(req.params.id));
    });
  };
}
