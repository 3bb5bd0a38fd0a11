import { PassThrough } from 'node:stream';
import { ActionParameters } from '@cordon/protocol';
import type { ActionManifest } from '../types.js';
import { producePackage } from './package.js';

/**
 * Collect investigation package: the collectors' output is zipped as it is produced and streamed
 * to the server in verified chunks at the same time, so neither the zip nor the upload is ever
 * held whole in memory or on the device's disk.
 */
export const collectInvestigationPackage: ActionManifest = {
  type: 'CollectInvestigationPackage',
  capabilityVersion: '1',
  platforms: ['linux'],
  parameters: ActionParameters.CollectInvestigationPackage,
  timeoutMs: 60 * 60_000,
  maxResultBytes: 64 * 1024,
  // One at a time: two packages would read the same device twice over, doubling its load for nothing.
  concurrency: 1,
  async run(_params, ctx) {
    const zip = new PassThrough({ highWaterMark: 1024 * 1024 });
    let uploaded = 0;
    const producing = producePackage(zip, {
      dataDir: ctx.dataDir,
      platform: ctx.platform,
      roots: ctx.walkRoots,
      signal: ctx.signal,
      progress: (percent, message) => ctx.progress(Math.min(99, percent), `${message}; ${(uploaded / 1048576).toFixed(1)} MB uploaded`),
    });
    const uploading = ctx.upload(zip, (bytes) => {
      uploaded = bytes;
    });
    // Either side failing stops the other: a broken upload must not leave the collectors running.
    producing.catch((e: unknown) => zip.destroy(e as Error));
    uploading.catch((e: unknown) => zip.destroy(e as Error));
    const [summary, upload] = await Promise.all([producing, uploading]);
    return {
      size: upload.size,
      sha256: upload.sha256,
      resumedUploads: upload.resumed,
      collectors: summary.collectors,
      dataPoints: summary.dataPoints,
      succeeded: summary.succeeded,
      failed: summary.failed,
      timedOut: summary.timedOut,
      truncated: summary.truncated,
      notPresent: summary.notPresent,
      collectedBytes: summary.bytes,
      durationMs: summary.durationMs,
    };
  },
};
