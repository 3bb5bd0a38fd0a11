// Bundles the CLI (and with it server, agent and protocol) into one ESM file (and the scan worker into another), so long-running
// processes run plain JavaScript instead of transpiling TypeScript in memory (~35 MB less per
// process, faster start). Dependencies stay in node_modules. Runs in well under a second.
// Then builds the web console with Vite when its sources changed since the last build (~20 s).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
await build({
  // The scan's worker threads load their own module (dist/scan-worker.mjs, found beside the bundle).
  entryPoints: [
    { in: join(root, 'packages/cli/src/main.ts'), out: 'cordon' },
    { in: join(root, 'packages/agent/src/scan/scan-worker.ts'), out: 'scan-worker' },
  ],
  outdir: join(root, 'packages/cli/dist'),
  outExtension: { '.js': '.mjs' },
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
        // `@cordon/<name>[/<subpath>]` resolves through that package's "exports" (e.g. `@cordon/protocol/config`).
        b.onResolve({ filter: /^@cordon\// }, (args) => {
          const [name, ...subpath] = args.path.slice('@cordon/'.length).split('/');
          const dir = join(root, 'packages', name);
          const { exports } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
          const key = subpath.length > 0 ? `./${subpath.join('/')}` : '.';
          const target = typeof exports === 'string' && key === '.' ? exports : exports?.[key];
          if (typeof target !== 'string') return { errors: [{ text: `${args.path}: packages/${name}/package.json exports no "${key}"` }] };
          return { path: join(dir, target) };
        });
        // A dependency stays external, so the bundle loads it from packages/cli/dist's point of view:
        // that must be the copy the importing package gets, or the bundle runs another version (the
        // agent's tar-stream 3 would be the root's hoisted tar-stream 2). Declare it in the CLI's package.json.
        const builtins = new Set(builtinModules);
        const dist = join(root, 'packages/cli/dist');
        b.onResolve({ filter: /^[^./]/ }, (args) => {
          const name = args.path.split('/').slice(0, args.path.startsWith('@') ? 2 : 1).join('/');
          if (args.path.startsWith('node:') || name.startsWith('@cordon/') || builtins.has(name) || !args.importer) return undefined;
          const seen = packageVersion(name, dirname(args.importer));
          const bundled = packageVersion(name, dist);
          if (seen && seen !== bundled) return { errors: [{ text: `${name}: ${args.importer} gets version ${seen}, the bundle would load ${bundled ?? 'nothing'}; add ${name}@${seen} to packages/cli/package.json and run npm install` }] };
          return undefined;
        });
      },
    },
  ],
  sourcemap: 'linked',
  logLevel: 'warning',
});
// The built-in YARA rule pack is read beside the module that loads it (`./rules/` of
// packages/protocol/src/yara/ in the sources, of dist/ in the bundle).
cpSync(join(root, 'packages/protocol/src/yara/rules'), join(root, 'packages/cli/dist/rules'), { recursive: true });

// The agent's native helpers (issue 18's exec-guard and the exec probe of its test and bench), compiled
// when missing or older than their source. Without `cc` or libcrypto's headers restriction is unsupported
// on this machine: a warning, never a failed build.
const nativeDir = join(root, 'packages/agent/native');
const helpers = [
  ['exec-guard.c', 'cordon-exec-guard', ['-lcrypto'], 'restricting app execution is unsupported on this machine'],
  ['exec-probe.c', 'exec-probe', [], "the exec-guard's test and bench are skipped"],
];
for (const [source, binary, libs, consequence] of helpers) {
  const out = join(nativeDir, 'build', binary);
  if (newest(out) >= newest(join(nativeDir, source))) continue;
  mkdirSync(join(nativeDir, 'build'), { recursive: true });
  // Compiled beside the target and renamed over it, so a running helper is never overwritten mid-way.
  const tmp = `${out}.tmp-${process.pid}`;
  const cc = spawnSync('cc', ['-O2', '-Wall', '-Wextra', '-o', tmp, join(nativeDir, source), ...libs], { encoding: 'utf8' });
  if (cc.status === 0) {
    renameSync(tmp, out);
    continue;
  }
  rmSync(tmp, { force: true });
  const why = cc.error ? '`cc` is not installed' : (cc.stderr.split('\n').find((l) => /error/.test(l)) ?? `cc exited ${cc.status}`).trim();
  console.error(`cordon: warning: could not compile ${binary} (${why}; install build-essential and libssl-dev): ${consequence}`);
}

/** The version of package `name` Node finds from `dir`, or null. */
function packageVersion(name, dir) {
  for (let d = dir; ; d = dirname(d)) {
    const pkg = join(d, 'node_modules', name, 'package.json');
    if (existsSync(pkg)) return JSON.parse(readFileSync(pkg, 'utf8')).version;
    if (dirname(d) === d) return null;
  }
}

/** The newest modification time under `path` (a file or a folder), 0 when it does not exist. */
function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  return Math.max(st.mtimeMs, ...readdirSync(path).map((name) => newest(join(path, name))));
}

const consoleDir = join(root, 'packages/console');
const builtAt = newest(join(consoleDir, 'dist/index.html'));
// The console bundles the API client and protocol's browser-safe parts (alert triage, path completion…).
const sources = ['src', 'index.html', 'vite.config.ts', 'package.json', '../api-client/src', '../protocol/src'].map((p) => join(consoleDir, p));
if (builtAt === 0 || Math.max(...sources.map(newest), newest(join(root, 'package-lock.json'))) > builtAt) {
  console.error('cordon: building the web console…');
  // React picks its development build from NODE_ENV (vitest sets it to `test`): always ship production.
  process.env.NODE_ENV = 'production';
  const vite = await import('vite');
  await vite.build({ root: consoleDir, configFile: join(consoleDir, 'vite.config.ts'), mode: 'production', logLevel: 'warn' });
}
