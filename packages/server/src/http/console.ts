import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

/** The console's pages: each is the same single-page app, which routes in the browser. */
export const CONSOLE_PAGES = ['/', '/signin', '/alerts', '/alerts/*', '/devices', '/devices/*', '/actions', '/indicators', '/admin/credentials', '/admin/audit', '/admin/groups'];

/** Where the built console lives (packages/console/dist), found through the workspace link. */
export function defaultConsoleDir(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@cordon/console/package.json')), 'dist');
  } catch {
    return join(process.cwd(), 'packages', 'console', 'dist');
  }
}

const NOT_BUILT = 'The web console is not built. Run `npm start` (it builds the console) or `node scripts/build.mjs`. The API is browsable at /api/docs.\n';

/**
 * Serves the web console: hashed assets cached for good, the page itself never cached (so a new
 * build is picked up at once). Without a build, the console's URL says how to make one.
 */
export async function registerConsole(app: FastifyInstance, dir: string): Promise<void> {
  const route = { config: { access: 'public' as const }, schema: { hide: true } };
  await app.register(fastifyStatic, { root: dir, serve: false });
  // Checked per request: a build made while the server runs is served without a restart.
  const built = () => existsSync(join(dir, 'index.html'));

  app.get('/assets/*', route, async (req, reply) => {
    const file = (req.params as { '*': string })['*'];
    // Vite's hashed file names, nothing else: no folders, no '..', no dot-files. They never change.
    if (!/^[\w-]+(\.[\w-]+)+$/.test(file)) return reply.callNotFound();
    return reply.sendFile(file, join(dir, 'assets'), { maxAge: '365d', immutable: true });
  });
  for (const url of CONSOLE_PAGES) {
    app.get(url, route, async (_req, reply) => {
      if (!built()) return reply.code(503).type('text/plain; charset=utf-8').send(NOT_BUILT);
      return reply.header('cache-control', 'no-cache').sendFile('index.html', { cacheControl: false });
    });
  }
}
