// Installs the workspace's dependencies when they are missing or older than package-lock.json,
// then bundles the CLI, so both quick-start commands work from a fresh clone and cost next to
// nothing when everything is in place.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const marker = join(root, 'node_modules', '.package-lock.json');
const lock = join(root, 'package-lock.json');
const stale = !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  console.error('cordon: installing dependencies (first run builds better-sqlite3 from source, about a minute)…');
  const args = existsSync(lock) ? ['ci', '--no-audit', '--no-fund'] : ['install', '--no-audit', '--no-fund'];
  let r = spawnSync('npm', args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    // node-gyp now and then fails after a good build of better-sqlite3 ("lstat build/node_gyp_bins",
    // nodejs/node-gyp#3155); npm ci starts from nothing, so one more try is safe.
    console.error(`cordon: npm ${args[0]} failed (exit ${r.status}); trying once more…`);
    r = spawnSync('npm', args, { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  }
  if (r.status !== 0) {
    console.error(`cordon: npm ${args[0]} failed (exit ${r.status}); see the output above.`);
    process.exit(r.status ?? 1);
  }
}

const b = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
if (b.status !== 0) {
  console.error('cordon: bundling the CLI failed; see the output above.');
  process.exit(b.status ?? 1);
}
