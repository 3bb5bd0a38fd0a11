import { parseArgs } from '../args.js';
import { CommandError } from '../errors.js';
import { printable, table } from '../format.js';
import type { LiveCommand } from '../types.js';

/** `help`: the commands this session knows, or one command's usage. */
export const help: LiveCommand = {
  name: 'help',
  summary: 'List the commands, or show how to use one',
  usage: 'help [command]',
  level: 'basic',
  async run(args, ctx) {
    const { operands } = parseArgs(this, args, { maxOperands: 1 });
    const { commands, level } = ctx.session;
    const allowed = (c: LiveCommand) => c.level === 'basic' || level === 'advanced';
    if (operands[0] !== undefined) {
      const c = commands.get(operands[0]);
      if (!c) throw new CommandError(`${printable(operands[0])}: unknown command (help lists the commands)`);
      ctx.write(`${c.summary}\nusage: ${c.usage}\n${allowed(c) ? '' : 'An advanced command: this session runs basic commands only.\n'}`);
      return { data: { name: c.name, summary: c.summary, usage: c.usage, level: c.level, allowed: allowed(c) } };
    }
    const list = [...commands.values()].sort((a, b) => a.name.localeCompare(b.name));
    ctx.write(table(['COMMAND', 'WHAT IT DOES'], list.map((c) => [c.name, allowed(c) ? c.summary : `${c.summary} (advanced: not in this session)`])));
    return { data: list.map((c) => ({ name: c.name, summary: c.summary, usage: c.usage, level: c.level, allowed: allowed(c) })) };
  },
};
