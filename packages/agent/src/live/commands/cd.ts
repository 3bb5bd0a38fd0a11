import { parseArgs } from '../args.js';
import { CommandError } from '../errors.js';
import { printable } from '../format.js';
import { statPath } from '../paths.js';
import type { LiveCommand } from '../types.js';

/** `cd`: changes the session's working directory (`cd` alone: `/`; `cd -`: the previous one). */
export const cd: LiveCommand = {
  name: 'cd',
  summary: 'Change the working directory (cd alone: /, cd -: the previous one)',
  usage: 'cd [dir | -]',
  level: 'basic',
  async run(args, ctx) {
    const { operands } = parseArgs(this, args, { maxOperands: 1 });
    const s = ctx.session;
    let target: string;
    if (operands[0] === undefined) target = '/';
    else if (operands[0] === '-') {
      if (s.previousCwd === null) throw new CommandError('no previous directory');
      target = s.previousCwd;
    } else target = ctx.resolve(operands[0]);
    // A link root controls is followed (/var/run); one a user could have planted is not.
    const st = await statPath(ctx.files, target, { follow: true });
    if (st.isSymbolicLink()) {
      const to = await ctx.files.readlink(target);
      throw new CommandError(`${printable(target)}: a symbolic link${to === null ? '' : ` to ${printable(to)}`} a user could have planted; not followed`);
    }
    if (!st.isDirectory()) throw new CommandError(`${printable(target)}: not a directory`);
    s.previousCwd = s.cwd;
    s.cwd = target;
    // `cd -` says where it went, as a shell does.
    if (operands[0] === '-') ctx.write(`${printable(target)}\n`);
    return { data: { cwd: target } };
  },
};
