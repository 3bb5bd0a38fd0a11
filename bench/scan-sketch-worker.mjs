/**
 * A worker of the bench's sketch of a faster scan pipeline (bench/scan.bench.ts): it reads each
 * file into one reused buffer, hashes it with node:crypto and scans it with the synchronous YARA-X
 * call, all on this thread, so the main thread never touches file bytes. No archives.
 * Plain JavaScript: a worker thread does not get the tsx loader of the bench's main thread.
 */
import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { createRequire } from 'node:module';

// The binding @cordon/protocol/yara loads (its loadRules is TypeScript, which a worker cannot import here).
const rules = createRequire(import.meta.url)('@litko/yara-x-linux-x64-gnu').deserialize(Buffer.from(workerData.rules));
const WHOLE = workerData.bufferBytes;
let buf = Buffer.allocUnsafe(1024 * 1024);

/** @returns {[string, string, string[]]} the path, its SHA-256 and the rules that matched */
function scan(path) {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    const size = fstatSync(fd).size;
    const sha256 = createHash('sha256');
    const sha1 = createHash('sha1');
    let matches;
    if (size <= WHOLE) {
      if (buf.length < size) buf = Buffer.allocUnsafe(Math.max(size, buf.length * 2));
      let n = 0;
      for (let r = 1; n < size && r > 0; n += r) r = readSync(fd, buf, n, size - n, n);
      const data = buf.subarray(0, n);
      sha256.update(data);
      sha1.update(data);
      matches = rules.scan(data);
    } else {
      // Larger files: YARA-X maps the file itself; the hashes read it in 4 MiB pieces.
      matches = rules.scanFile(`/proc/self/fd/${fd}`);
      if (buf.length < 4 * 1024 * 1024) buf = Buffer.allocUnsafe(4 * 1024 * 1024);
      for (let pos = 0, r = 1; r > 0; pos += r) {
        r = readSync(fd, buf, 0, buf.length, pos);
        sha256.update(buf.subarray(0, r));
        sha1.update(buf.subarray(0, r));
      }
    }
    sha1.digest();
    return [path, sha256.digest('hex'), matches.map((m) => m.ruleIdentifier)];
  } finally {
    closeSync(fd);
  }
}

parentPort.on('message', (paths) => parentPort.postMessage(paths.map(scan)));
