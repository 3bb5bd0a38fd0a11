/**
 * Baseline for bench/alerts.bench.ts's ingest rate: Fastify (Cordon's HTTP framework) alone, with
 * a POST /api/alerts that parses the JSON body and answers 201 with it and an id. No auth, no
 * validation, no store: the floor any ingest endpoint on this framework and machine starts from.
 */
import { randomUUID } from 'node:crypto';
import Fastify from 'fastify';

const app = Fastify({ bodyLimit: 256 * 1024 });
app.post('/api/alerts', async (req, reply) => reply.code(201).send({ id: randomUUID(), ...(req.body as object) }));
await app.listen({ port: Number(process.argv[2]), host: '127.0.0.1' });
process.stdout.write(`listening on ${process.argv[2]}\n`);
