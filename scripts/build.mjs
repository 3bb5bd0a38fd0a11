// Bundles the CLI (and with it server, agent and protocol) into one ESM file, so long-running
// processes run plain JavaScript instead of transpiling TypeScript in memory (~35 MB less per
// process, faster start). Dependencies stay in node_modules. Runs in well under a second.
import { build } from 'esbuild';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  entryPoints: [join(root, 'packages/cli/src/main.ts')],
  outfile: join(root, 'packages/cli/dist/cordon.mjs'),
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  packages: 'external',
  // Workspace packages are bundled; everything from the registry is loaded from node_modules.
  plugins: [
    {
      name: 'bundle-workspace',
      setup(b) {
        b.onResolve({ filter: /^@cordon\// }, (args) => ({ path: join(root, 'packages', args.path.slice('@cordon/'.length), 'src', 'index.ts') }));
      },
    },
  ],
  sourcemap: 'linked',
  logLevel: 'warning',
});
