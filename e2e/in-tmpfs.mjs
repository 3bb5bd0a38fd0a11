// Runs `cordon …` with small tmpfs file systems mounted where the test says, in a mount namespace
// of its own, so the host never sees them:
//   unshare -m --propagation private -- node e2e/in-tmpfs.mjs '[{"path":"/tmp/x/data","size":"64m"}]' -- server --data-dir /tmp/x/data …
// `unshare` (without --fork) execs node in the new namespace, so this process is the one the test
// started and the server runs in it (same pid): killing it ends the namespace, and with it the
// mounts, whatever happens. Nothing needs unmounting; the test reads the files through /proc/<pid>/root.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sep = process.argv.indexOf('--');
if (sep < 3) throw new Error('usage: in-tmpfs.mjs <mounts JSON> -- <cordon args…>');
// Never mount in the test runner's (the host's) mount namespace.
if (readlinkSync('/proc/self/ns/mnt') === readlinkSync(`/proc/${process.ppid}/ns/mnt`)) throw new Error('not in a mount namespace of its own (run under unshare -m --propagation private)');
for (const { path, size } of JSON.parse(process.argv[2])) {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'cordon-test', path]);
}
const cordon = join(dirname(fileURLToPath(import.meta.url)), '..', 'packages', 'cli', 'bin', 'cordon.mjs');
process.argv = [process.argv[0], cordon, ...process.argv.slice(sep + 1)];
await import(pathToFileURL(cordon).href);
