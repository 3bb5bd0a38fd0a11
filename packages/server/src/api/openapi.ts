import type { SwaggerTransformObject } from '@fastify/swagger';
import { jsonSchemaTransformObject } from 'fastify-type-provider-zod';

/**
 * @fastify/swagger's `transformObject`: every schema with a `.meta({ id })` (src/api/schemas.ts)
 * becomes a named component that routes refer to by `$ref`. The library also emits an `…Input`
 * twin of each for request bodies; twins that no request refers to are left out of the document.
 */
export const openApiComponents: SwaggerTransformObject = (input) => {
  const doc = jsonSchemaTransformObject(input);
  const schemas = (doc as { components?: { schemas?: Record<string, unknown> } }).components?.schemas ?? {};
  // A twin may be referred to only by another unused twin: repeat until nothing more goes.
  for (let dropped = true; dropped; ) {
    dropped = false;
    const text = JSON.stringify(doc);
    for (const name of Object.keys(schemas)) {
      if (name.endsWith('Input') && !text.includes(`"#/components/schemas/${name}"`)) dropped = delete schemas[name];
    }
  }
  // MDE's `GetLiveResponseResultDownloadLink(index=N)` is routed with a regex parameter, which the
  // library names `{regexp1}`: the document shows the path as clients call it.
  const paths = (doc as { paths?: Record<string, unknown> }).paths ?? {};
  for (const key of Object.keys(paths)) {
    if (!key.endsWith('GetLiveResponseResultDownloadLink{regexp1}')) continue;
    paths[key.replace('{regexp1}', '(index={index})')] = paths[key];
    delete paths[key];
  }
  return doc;
};
