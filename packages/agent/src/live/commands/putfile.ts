import type { LibraryFileRef } from '@cordon/protocol';
import { rename, unlink } from 'node:fs/promises';
import { posix } from 'node:path';
import { parseArgs } from '../args.js';
import { CommandError, fsError, usageError } from '../errors.js';
import { printable } from '../format.js';
import type { CommandContext, LiveCommand } from '../types.js';
import { at, copyVerified, openDirectory, realDirectory, tempName } from '../write.js';

/**
 * The library file a line names, fetched and verified: the server resolves the name to a
 * {@link LibraryFileRef} and sends it with the line; a line without one, or with one for another
 * name, is refused. Answers the ref and the path of its verified bytes.
 */
export async function libraryFile(ctx: CommandContext, name: string): Promise<{ ref: LibraryFileRef; path: string }> {
  const ref = ctx.library;
  if (!ref) throw new CommandError(`${printable(name)} is not in the library`);
  if (ref.fileName !== name) throw new CommandError(`the library file sent with this line is ${printable(ref.fileName)}, not ${printable(name)}; nothing was done`);
  try {
    return { ref, path: await ctx.fetchLibrary(ref) };
  } catch (e) {
    ctx.signal.throwIfAborted();
    if (e instanceof CommandError) throw e;
    throw new CommandError((e as Error).message ?? String(e));
  }
}

const OVERWRITE = new Set(['-overwrite', '--overwrite']);

/**
 * `putfile <name> [-overwrite]`: copies a library file into the working directory under its name
 * (mode 0600), checked against the SHA-256 the server named. A file already there is kept unless
 * -overwrite; either way a link planted at the name is never followed: without -overwrite the file
 * is created new (O_EXCL | O_NOFOLLOW), with it a copy is written next to it and renamed over it.
 */
export const putfile: LiveCommand = {
  name: 'putfile',
  summary: 'Copy a library file into the working directory (-overwrite replaces a file of that name)',
  usage: 'putfile <name> [-overwrite]',
  level: 'advanced',
  async run(args, ctx) {
    const overwrite = args.some((a) => OVERWRITE.has(a));
    const { operands } = parseArgs(this, args.filter((a) => !OVERWRITE.has(a)), { maxOperands: 1 });
    const name = operands[0];
    if (name === undefined) throw usageError(this);
    const { ref, path: src } = await libraryFile(ctx, name);
    const dirPath = await realDirectory(ctx, ctx.session.cwd);
    const path = posix.join(dirPath, name);
    const label = printable(path);
    const dir = await openDirectory(dirPath);
    try {
      const copy = { mode: 0o600, sha256: ref.sha256, signal: ctx.signal, label };
      let written: { size: number; sha256: string };
      if (!overwrite) {
        try {
          written = await copyVerified(src, dir, name, copy);
        } catch (e) {
          // O_EXCL fails on anything at the name, a link included.
          if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new CommandError(`${label}: a file of that name is there already; putfile -overwrite replaces it`);
          throw fsError(e, label);
        }
      } else {
        const tmp = tempName(name, 'putfile');
        written = await copyVerified(src, dir, tmp, copy).catch((e: unknown) => {
          throw fsError(e, label);
        });
        try {
          await rename(at(dir, tmp), at(dir, name));
        } catch (e) {
          await unlink(at(dir, tmp)).catch(() => undefined);
          const code = (e as NodeJS.ErrnoException).code;
          throw new CommandError(`${label}: ${code === 'EISDIR' || code === 'ENOTEMPTY' || code === 'EEXIST' ? 'a directory of that name is there; it is not replaced' : ((e as Error).message ?? String(e))}`);
        }
      }
      await dir.sync().catch(() => undefined);
      ctx.write(`${label}: ${written.size} bytes, SHA-256 ${written.sha256}\n`);
      return { data: { path, size: written.size, sha256: written.sha256, version: ref.version } };
    } finally {
      await dir.close();
    }
  },
};
