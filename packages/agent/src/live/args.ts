import { usageError } from './errors.js';
import type { LiveCommand } from './types.js';

/** A command's arguments split into flags, options with values, and operands. */
export interface ParsedArgs {
  flags: Set<string>;
  options: Map<string, string>;
  operands: string[];
}

/**
 * Reads arguments as POSIX utilities do: one-letter flags (`-l -a`, or together `-la`), long
 * options taking a value (`--root /x` or `--root=/x`), `--` ends the options, and a lone `-` is an
 * operand (`cd -`). Anything unknown is a usage error (exit status 2).
 */
export function parseArgs(cmd: Pick<LiveCommand, 'usage'>, args: string[], spec: { flags?: string; options?: string[]; maxOperands?: number }): ParsedArgs {
  const out: ParsedArgs = { flags: new Set(), options: new Map(), operands: [] };
  let optionsDone = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (optionsDone || a === '-' || !a.startsWith('-')) out.operands.push(a);
    else if (a === '--') optionsDone = true;
    else if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a : a.slice(0, eq);
      if (!spec.options?.includes(name)) throw usageError(cmd, `unknown option ${name}`);
      const value = eq < 0 ? args[++i] : a.slice(eq + 1);
      if (value === undefined) throw usageError(cmd, `${name} needs a value`);
      out.options.set(name, value);
    } else {
      for (const f of a.slice(1)) {
        if (!spec.flags?.includes(f)) throw usageError(cmd, `unknown option -${f}`);
        out.flags.add(f);
      }
    }
  }
  if (spec.maxOperands !== undefined && out.operands.length > spec.maxOperands) throw usageError(cmd, 'too many arguments');
  return out;
}
