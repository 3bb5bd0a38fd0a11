import { Option, type Command } from 'commander';
import type { ActionCatalog, ActionSpec } from '@cordon/protocol';
import { clientFrom } from '../context.js';
import { submitAction } from './actions.js';
import { withConn } from './machines.js';

/** MDE clients send PascalCase body keys; so does the CLI (the server accepts both). */
const pascal = (field: string) => field[0]!.toUpperCase() + field.slice(1);

/**
 * One `cordon <verb> <machine> --comment … [--type …] [--wait]` command per catalog action that
 * declares a verb: its summary, its option and its endpoint all come from the catalog entry.
 */
export function registerActionVerbs(program: Command, catalog: ActionCatalog): void {
  for (const spec of catalog.actions) if (spec.cli) registerVerb(program, spec, spec.cli);
}

function registerVerb(program: Command, spec: ActionSpec, cli: NonNullable<ActionSpec['cli']>): void {
  const cmd = withConn(program.command(cli.verb).description(cli.summary).argument('<machine>', 'id, name or IP'))
    .requiredOption('--comment <text>', 'why (recorded with the action)')
    .option('--wait', 'wait until the action ends');
  const option = spec.option;
  if (option) cmd.addOption(new Option('--type <type>', option.label).choices([...option.values]).default(option.default));
  cmd.action(async (ref: string, o: { server?: string; token?: string; json?: boolean; comment: string; type?: string; wait?: boolean }) => {
    const body: Record<string, unknown> = { Comment: o.comment };
    if (option) body[pascal(option.field)] = o.type;
    await submitAction(clientFrom(o), ref, spec.path, body, o);
  });
}
