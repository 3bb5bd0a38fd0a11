// Regenerates packages/api-client/src/openapi.d.ts from the OpenAPI document the server serves at
// /api/openapi.json, built in-process (nothing listens). Run with `npm run gen:api`; the drift test
// (packages/api-client/src/openapi.test.ts) fails when the committed file differs.
import { writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import openapiTS, { astToString, COMMENT_HEADER, type OpenAPI3 } from 'openapi-typescript';
import { startHarness } from '@cordon/server/testing';

export const API_TYPES_FILE = fileURLToPath(new URL('../packages/api-client/src/openapi.d.ts', import.meta.url));

const HEADER = `${COMMENT_HEADER.trimEnd()}\n// From the server's OpenAPI document (GET /api/openapi.json): run \`npm run gen:api\` after changing the API.\n\n`;

/** The server's OpenAPI document, exactly as GET /api/openapi.json serves it. */
export async function openApiDocument(): Promise<OpenAPI3> {
  const h = await startHarness();
  try {
    const res = await h.server.app.inject({ method: 'GET', url: '/api/openapi.json' });
    if (res.statusCode !== 200) throw new Error(`GET /api/openapi.json answered ${res.statusCode}: ${res.body}`);
    return res.json<OpenAPI3>();
  } finally {
    await h.close();
  }
}

/** The TypeScript types of the API (`paths`, `components`), as committed in the api-client package. */
export async function generateApiTypes(): Promise<string> {
  return HEADER + astToString(await openapiTS(await openApiDocument()));
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(API_TYPES_FILE, await generateApiTypes());
  console.log(`wrote ${API_TYPES_FILE}`);
}
