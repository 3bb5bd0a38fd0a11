#!/usr/bin/env node
// Runs the bundled CLI (dist/, built by `npm start` / `npm test`) when it is newer than every
// source file; otherwise runs the TypeScript sources through tsx. A stale bundle is never run.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const packages = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const bundle = join(packages, 'cli', 'dist', 'cordon.mjs');

function newestSource(dir) {
  let newest = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) newest = Math.max(newest, newestSource(path));
    else if (entry.name.endsWith('.ts') || entry.name.endsWith('.yar')) newest = Math.max(newest, statSync(path).mtimeMs);
  }
  return newest;
}

function bundleIsFresh() {
  if (!existsSync(bundle)) return false;
  const built = statSync(bundle).mtimeMs;
  return readdirSync(packages).every((p) => !existsSync(join(packages, p, 'src')) || newestSource(join(packages, p, 'src')) <= built);
}

let entry;
if (bundleIsFresh()) {
  entry = await import(pathToFileURL(bundle).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  entry = await import('../src/main.ts');
}
await entry.main(process.argv);
