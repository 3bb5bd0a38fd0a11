import { parseArgs } from '../args.js';
import { printable } from '../format.js';
import type { LiveCommand } from '../types.js';

/** `pwd`: the session's working directory. */
export const pwd: LiveCommand = {
  name: 'pwd',
  summary: 'Show the working directory',
  usage: 'pwd',
  level: 'basic',
  async run(args, ctx) {
    parseArgs(this, args, { maxOperands: 0 });
    ctx.write(`${printable(ctx.session.cwd)}\n`);
    return { data: { cwd: ctx.session.cwd } };
  },
};
