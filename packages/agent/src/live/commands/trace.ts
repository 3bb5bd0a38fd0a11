import { parseArgs } from '../args.js';
import { usageError } from '../errors.js';
import type { LiveCommand } from '../types.js';

/** `trace on|off`: verbose mode, in which commands say what they read and run. */
export const trace: LiveCommand = {
  name: 'trace',
  summary: 'Turn verbose output on or off (trace alone: show which)',
  usage: 'trace [on | off]',
  level: 'basic',
  async run(args, ctx) {
    const { operands } = parseArgs(this, args, { maxOperands: 1 });
    const want = operands[0];
    if (want !== undefined && want !== 'on' && want !== 'off') throw usageError(this);
    if (want !== undefined) ctx.session.trace = want === 'on';
    ctx.write(`trace is ${ctx.session.trace ? 'on' : 'off'}\n`);
    return { data: { trace: ctx.session.trace } };
  },
};
