import { closeSync, fsyncSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname } from 'node:path';

/**
 * Replaces `file` with `text` so that after a crash or power cut it holds either the old or the
 * new content, never a torn mix: write a temp file, fsync it, rename it over, fsync the directory
 * (without that last step the rename itself may be forgotten).
 */
export function writeFileDurable(file: string, text: string | Buffer): void {
  // A temp name of its own: two processes (the agent and the break-glass command) may write at once.
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'w', 0o600);
  try {
    writeFileSync(fd, text); // writes it all (a large trust list may take more than one write)
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dirFd = openSync(dirname(file), 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
