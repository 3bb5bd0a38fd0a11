// Regenerates the configuration tables in README.md from the server's and the agent's config
// declarations. Run with `npm run gen:config`; the drift tests (packages/server/src/config.test.ts,
// packages/agent/src/config.test.ts) fail when a declared key, default or help text differs from the README.
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { readmeSection, renderConfigTable } from '@cordon/protocol/config';
import { serverConfig } from '../packages/server/src/config.ts';
import { agentConfig } from '../packages/agent/src/config.ts';

export const README_FILE = fileURLToPath(new URL('../README.md', import.meta.url));

/** README.md with each `<!-- config:NAME -->` section replaced by the table generated from its declaration. */
export function generateReadme(readme: string): string {
  for (const config of [serverConfig, agentConfig]) readme = readmeSection(readme, config.name).replace(renderConfigTable(config));
  return readme;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  writeFileSync(README_FILE, generateReadme(readFileSync(README_FILE, 'utf8')));
  console.log(`wrote ${README_FILE}`);
}
