import { InvalidArgumentError, Option, type Command } from 'commander';
import type { ActionCatalog, ActionExtra, ActionSpec } from '@cordon/protocol';
import { clientFrom, CliError } from '../context.js';
import { submitAction } from './actions.js';
import { withConn } from './machines.js';

/** MDE clients send PascalCase body keys; so does the CLI (the server accepts both). */
const pascal = (field: string) => field[0]!.toUpperCase() + field.slice(1);

/**
 * One `cordon <verb> <machine> --comment … [--type …] [--<extra> n] [--wait]` command per catalog
 * action that declares a verb: its summary, option, extras and endpoint all come from the catalog entry.
 */
export function registerActionVerbs(program: Command, catalog: ActionCatalog): void {
  for (const spec of catalog.actions) if (spec.cli) registerVerb(program, spec, spec.cli);
}

/** A whole number within the extra's range; the server checks again, this only says it sooner. */
const wholeNumber = (extra: ActionExtra) => (value: string) => {
  if (!/^\d+$/.test(value) || Number(value) < extra.min || Number(value) > extra.max) throw new InvalidArgumentError(`must be a whole number from ${extra.min} to ${extra.max}`);
  return Number(value);
};

function registerVerb(program: Command, spec: ActionSpec, cli: NonNullable<ActionSpec['cli']>): void {
  const waitMinutes = cli.waitMinutes ?? 2;
  const cmd = withConn(program.command(cli.verb).description(cli.summary).argument('<machine>', 'id, name or IP'))
    .requiredOption('--comment <text>', 'why (recorded with the action)')
    .option('--wait', 'wait until the action ends, showing its progress; Ctrl-C stops the waiting, not the action')
    .option('--timeout <minutes>', 'how long --wait waits', String(waitMinutes));
  const option = spec.option;
  if (option) {
    const values = [...option.values];
    cmd.addOption(
      new Option('--type <type>', `${option.label} (any case)`)
        .choices(values)
        .default(option.default)
        .argParser((v: string) => {
          const found = values.find((c) => c.toLowerCase() === v.toLowerCase());
          if (!found) throw new InvalidArgumentError(`Allowed choices are ${values.join(', ')}.`);
          return found;
        }),
    );
  }
  const extras = (spec.extras ?? []).map((extra) => ({ extra, option: new Option(`--${extra.flag} <n>`, extra.describe).argParser(wholeNumber(extra)) }));
  for (const { option: o } of extras) cmd.addOption(o);
  cmd.action(async (ref: string, o: Record<string, unknown> & { server?: string; token?: string; json?: boolean; comment: string; type?: string; wait?: boolean; timeout: string }) => {
    const body: Record<string, unknown> = { Comment: o.comment };
    if (option) body[pascal(option.field)] = o.type;
    for (const { extra, option: x } of extras) if (o[x.attributeName()] !== undefined) body[pascal(extra.field)] = o[x.attributeName()];
    const minutes = Number(o.timeout);
    if (!Number.isFinite(minutes) || minutes <= 0) throw new CliError(`--timeout must be a number of minutes; not ${o.timeout}`);
    await submitAction(clientFrom(o), ref, spec.path, body, { json: o.json, wait: o.wait, waitMinutes: minutes, cancelWhileRunning: spec.cancelWhileRunning ?? false });
  });
}
