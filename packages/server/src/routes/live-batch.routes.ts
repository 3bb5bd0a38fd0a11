import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { principalOf } from '../http/app.js';
import { answers, LiveResponseResultLink } from '../api/schemas.js';
import type { LiveBatchService } from '../services/live-batch.service.js';

/** Streamed as it is, never serialized: the schema only documents it. */
const ResultStream = z.custom<Readable>().meta({ type: 'string', format: 'binary', description: "The command's result: JSON for a RunScript, the file for a GetFile" });

const LinkParams = z.object({ id: z.string().min(1).max(128), index: z.coerce.number().int().min(0).max(31) });
const DownloadQuery = z.object({ expires: z.coerce.number().int().positive(), signature: z.string().max(128) });

/** MDE's results of a batch live response (runliveresponse): a signed link per command, and the download it opens. */
export function liveBatchRoutes(batch: LiveBatchService, publicApiUrl: () => string) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['live response'];

    // MDE's literal path; the regex keeps the index a number. Results are device data (script output, files): analysts and up, as transcripts.
    app.get(
      '/machineactions/:id/GetLiveResponseResultDownloadLink(index=:index(^\\d+))',
      { config: { access: 'live.read' }, schema: { tags, summary: "A short-lived download URL of a batch live-response command's result", params: LinkParams, response: answers({ 200: LiveResponseResultLink }) } },
      async (req) => batch.downloadLink(principalOf(req), req.params.id, req.params.index, publicApiUrl()),
    );

    // Public by design: the signed, expiring URL is the credential (MDE clients fetch it without a token).
    app.get(
      '/liveResponseResults/:id/:index/download',
      { config: { access: 'public' }, schema: { tags, summary: 'Download a command result through a URL from GetLiveResponseResultDownloadLink', params: LinkParams, querystring: DownloadQuery, produces: ['application/octet-stream'], response: { 200: ResultStream } } },
      async (req, reply) => {
        const r = await batch.download(req.params.id, req.params.index, req.query.expires, req.query.signature);
        reply.header('content-type', r.contentType).header('content-length', String(r.size)).header('content-disposition', `attachment; filename="${r.fileName}"`);
        if (r.sha256) reply.header('x-content-sha256', r.sha256);
        return reply.send(r.stream);
      },
    );
  };
}
