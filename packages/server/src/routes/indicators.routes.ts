import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { principalOf } from '../http/app.js';
import { answers, Indicator, IndicatorImportResult, IndicatorList, NoContent } from '../api/schemas.js';
import { IndicatorInput } from '../services/indicator-input.js';
import { MAX_INDICATOR_BATCH, type IndicatorsService } from '../services/indicators.service.js';
import { IdParam, ListQuery, listOf, listParams } from './common.js';

const batch = (what: string) => ({ error: (i: { input: unknown }) => (i.input === undefined ? `is required: a list of ${what}` : `must be a list of ${what}`) });
const BatchDeleteBody = z.strictObject({
  indicatorIds: z
    .array(z.union([z.string(), z.number()]), batch('indicator ids'))
    .min(1, 'must name at least one indicator')
    .max(MAX_INDICATOR_BATCH, `may name at most ${MAX_INDICATOR_BATCH} indicators`),
});
/** Items are checked one by one in the service, so an error names the item (`Indicators.3.IndicatorValue`). */
const ImportBody = z.strictObject({
  indicators: z
    .array(z.record(z.string(), z.unknown()).meta({ description: 'An indicator as POST /api/indicators takes it (PascalCase or camelCase keys)' }), batch('indicators'))
    .min(1, 'must hold at least one indicator')
    .max(MAX_INDICATOR_BATCH, `may hold at most ${MAX_INDICATOR_BATCH} indicators; split the import`),
});

/** MDE's indicators API: submit or update, list, get, delete, BatchDelete and import. */
export function indicatorsRoutes(indicators: IndicatorsService) {
  return async (fastify: FastifyInstance) => {
    const app = fastify.withTypeProvider<ZodTypeProvider>();
    const tags = ['indicators'];
    const audit = (action: string) => ({ action, targetType: 'indicator' as const });

    app.get('/indicators', { config: { access: 'indicators.read' }, schema: { tags, summary: 'List indicators, newest first', querystring: ListQuery, response: answers({ 200: IndicatorList }) } }, async (req) =>
      listOf('Indicators', await indicators.list(listParams(req.query))),
    );

    app.get('/indicators/:id', { config: { access: 'indicators.read' }, schema: { tags, summary: 'Get an indicator', params: IdParam, response: answers({ 200: Indicator }) } }, async (req) => indicators.get(req.params.id));

    app.post(
      '/indicators',
      {
        config: { access: 'indicators.write', audit: audit('SubmitIndicator') },
        schema: { tags, summary: 'Submit an indicator: creates it, or updates the one with the same type and value (answers 200 either way, as MDE does)', body: IndicatorInput, response: answers({ 200: Indicator }) },
      },
      async (req) => indicators.submit(principalOf(req), req.body, req.bodySpelling),
    );

    app.delete('/indicators/:id', { config: { access: 'indicators.write', audit: audit('DeleteIndicator') }, schema: { tags, summary: 'Delete an indicator', params: IdParam, response: answers({ 204: NoContent }) } }, async (req, reply) => {
      await indicators.remove(principalOf(req), req.params.id);
      return reply.code(204).send();
    });

    app.post(
      '/indicators/BatchDelete',
      { config: { access: 'indicators.write', audit: audit('DeleteIndicators') }, schema: { tags, summary: 'Delete up to 500 indicators: all of them, or none when an id is not found (404)', body: BatchDeleteBody, response: answers({ 204: NoContent }) } },
      async (req, reply) => {
        await indicators.batchDelete(principalOf(req), req.body.indicatorIds);
        return reply.code(204).send();
      },
    );

    app.post(
      '/indicators/import',
      {
        config: { access: 'indicators.write', audit: audit('ImportIndicators') },
        schema: { tags, summary: 'Submit or update up to 500 indicators at once: all of them, or none when one is not valid (400 naming it)', body: ImportBody, response: answers({ 200: IndicatorImportResult }) },
      },
      async (req) => indicators.import(principalOf(req), req.body.indicators),
    );
  };
}
