import { createHash } from 'node:crypto';
import { LIVE_GETFILE_MAX_BYTES } from '@cordon/protocol';
import { parseArgs } from '../args.js';
import { CommandError, usageError } from '../errors.js';
import { bytesText, fileType, printable } from '../format.js';
import { statPath } from '../paths.js';
import type { LiveCommand } from '../types.js';

/** How often a running transfer says how far it got. */
const PROGRESS_EVERY_MS = 2000;
/** getfile reads 1 MiB at a time: a 64 KiB read per turn of the event loop held a big file back to a few hundred MB/s. */
const GETFILE_READ_BYTES = 1024 * 1024;

/**
 * A transfer's id, from the file's identity (device, inode, size, times): the same file fetched
 * again, after the agent restarted mid-transfer, resumes from what the server already holds; a file
 * changed since is a new transfer. UUID-shaped, as upload ids are.
 */
export function transferIdOf(path: string, st: { dev: number; ino: number; size: number; mtimeMs: number; ctimeMs: number }): string {
  const h = createHash('sha256').update(`cordon-getfile/v1\n${path}\n${st.dev}:${st.ino}\n${st.size}\n${st.mtimeMs}\n${st.ctimeMs}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * `getfile`: sends a regular file to the server (chunked, each chunk and the whole checked by
 * SHA-256, resumable), where the session keeps it for download. A directory, a device node, a
 * FIFO, a socket or a symbolic link is refused, never opened.
 */
export const getfile: LiveCommand = {
  name: 'getfile',
  summary: 'Send a file to the server, for download from the session (up to 3 GiB)',
  usage: 'getfile <path>',
  level: 'basic',
  async run(args, ctx) {
    const { operands } = parseArgs(this, args, { maxOperands: 1 });
    if (operands[0] === undefined) throw usageError(this);
    const path = ctx.resolve(operands[0]);
    const st = await statPath(ctx.files, path, { follow: false });
    if (st.isSymbolicLink()) throw new CommandError(`${printable(path)} is a symbolic link; getfile its target by name (links are never followed)`);
    if (!st.isFile()) throw new CommandError(`${printable(path)} is a ${fileType(st)}, not a regular file: only files can be sent`);
    if (st.size > LIVE_GETFILE_MAX_BYTES) throw new CommandError(`${printable(path)} is ${bytesText(st.size)}; getfile sends at most ${bytesText(LIVE_GETFILE_MAX_BYTES)}`);
    if (!ctx.upload) throw new CommandError('this session cannot send files to the server');
    const transferId = transferIdOf(path, st);
    ctx.trace(`transfer ${transferId}: ${st.size} bytes`);
    let last = Date.now();
    // One reused read buffer: the uploader hashes and copies each piece before it asks for the next.
    const pieces = ctx.files.readPieces(path, { readBytes: GETFILE_READ_BYTES });
    const source = (async function* () {
      for await (const piece of pieces) {
        ctx.signal.throwIfAborted();
        yield piece;
      }
    })();
    const sent = await ctx.upload({ transferId, path, size: st.size }, source, (bytes) => {
      if (Date.now() - last < PROGRESS_EVERY_MS) return;
      last = Date.now();
      ctx.write(`getfile: ${bytesText(bytes)} of ${bytesText(st.size)} sent (${Math.floor((bytes / Math.max(1, st.size)) * 100)}%)\n`);
    });
    if (sent.size !== st.size) throw new CommandError(`${printable(path)} changed while it was sent (${bytesText(st.size)} when it started, ${bytesText(sent.size)} sent); the server refused it`);
    ctx.write(`${printable(path)}: ${bytesText(sent.size)} sent, SHA-256 ${sent.sha256}${sent.resumed ? ` (resumed from ${bytesText(sent.resumed)} the server already held)` : ''}\n`);
    return { data: { transferId, path, size: sent.size, sha256: sent.sha256, resumedFrom: sent.resumed } };
  },
};
