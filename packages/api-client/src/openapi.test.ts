import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { API_TYPES_FILE, generateApiTypes } from '../../../scripts/gen-api.ts';

it('openapi.d.ts matches the OpenAPI document the server serves', async () => {
  const fresh = (await generateApiTypes()).split('\n');
  const committed = readFileSync(API_TYPES_FILE, 'utf8').split('\n');
  const line = fresh.findIndex((l, i) => l !== committed[i]);
  if (line !== -1 || fresh.length !== committed.length) {
    const at = line === -1 ? Math.min(fresh.length, committed.length) : line;
    expect.fail(`the API changed: run npm run gen:api (openapi.d.ts line ${at + 1} is\n  ${committed[at] ?? '(end of file)'}\nbut the server's document now gives\n  ${fresh[at] ?? '(end of file)'})`);
  }
});
