import type { LiveCommand } from './types.js';

/** A command failed for a reason the analyst can act on: shown as one line `<command>: <message>`. */
export class CommandError extends Error {
  override name = 'CommandError';
  constructor(
    message: string,
    readonly exitStatus = 1,
  ) {
    super(message);
  }
}

/** Wrong arguments: exit status 2 and the usage line, as a shell command says it. */
export function usageError(cmd: Pick<LiveCommand, 'usage'>, why?: string): CommandError {
  return new CommandError(`${why ? `${why}; ` : ''}usage: ${cmd.usage}`, 2);
}

/** A file-system error as one line about the path: "no such file or directory", "permission denied"… */
export function fsError(e: unknown, path: string): CommandError {
  if (e instanceof CommandError) return e;
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return new CommandError(`${path}: no such file or directory`);
    case 'ENOTDIR':
      return new CommandError(`${path}: a part of the path is not a directory`);
    case 'EACCES':
    case 'EPERM':
      return new CommandError(`${path}: permission denied`);
    case 'ELOOP':
      return new CommandError(`${path}: too many levels of symbolic links`);
    case 'UNSAFE_PATH':
      // Safe file access says what it refused and why (a link a user could have planted, a foreign owner).
      return new CommandError(err.message);
    default:
      return new CommandError(`${path}: ${err.message ?? String(e)}`);
  }
}
