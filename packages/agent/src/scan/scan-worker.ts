/**
 * A scan worker thread (started by ScanPool): scans the files the main thread posts, one at a time
 * and in order, and posts each outcome back. The CLI bundle carries it as dist/scan-worker.mjs.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadRules } from '@cordon/protocol/yara';
import { FileScanner, type FileOutcome, type FileScanSettings, type FileTask } from './file-scan.js';

export interface ScanWorkerData {
  /** The compiled rules, serialized (each worker holds its own copy: YaraRules is not shareable). */
  rules: Uint8Array;
  fileTimeoutMs: number;
  settings: FileScanSettings;
}

const data = workerData as ScanWorkerData;
const rules = loadRules(Buffer.from(data.rules));
rules.setTimeout(data.fileTimeoutMs);
const scanner = new FileScanner(rules, data.settings);

// One file at a time: an archive's members are read asynchronously, and the buffer is shared.
let queue = Promise.resolve();
parentPort!.on('message', (task: FileTask) => {
  queue = queue
    .then(() => scanner.scan(task))
    .catch((e: unknown): FileOutcome => ({ id: task.id, kind: 'skipped', skipped: { path: task.path, reason: 'Error', detail: (e as Error).message } }))
    .then((outcome) => parentPort!.postMessage(outcome));
});
parentPort!.postMessage('ready');
