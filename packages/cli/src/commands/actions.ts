import type { Command } from 'commander';
import { ACTION_STATUSES, ACTION_TYPES } from '@cordon/protocol';
import type { CordonClient, MachineAction } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print, safeText } from '../output.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

export const actionRows = (list: MachineAction[]) => ({
  head: ['id', 'type', 'machine', 'status', 'requestor', 'created', 'error'],
  rows: list.map((a) => [a.id, a.scope ? `${a.type} (${a.scope})` : a.type, a.computerDnsName, a.status, a.requestor, a.creationDateTimeUtc, a.error]),
});

/**
 * Submits one action to a machine (id, name or IP) and prints it; with `wait`, follows it to its
 * end (each status on stderr) and fails unless it Succeeded. Every single-machine action command uses this.
 */
export async function submitAction(client: CordonClient, ref: string, path: string, body: Record<string, unknown>, o: { json?: boolean; wait?: boolean }): Promise<MachineAction> {
  const m = await client.resolveMachine(ref);
  let a = await client.submit(m.id, path, body);
  if (o.wait) {
    a = await client.waitFor(a.id, 120_000, (x) => {
      if (!o.json) process.stderr.write(`${safeText(x.status)}\n`);
    });
    if (a.status !== 'Succeeded') {
      if (o.json) print(true, a);
      throw new CliError(`action ${a.id} ended ${a.status}${a.error ? `: ${a.error}` : ''}`);
    }
  }
  print(!!o.json, a, () => actionRows([a]));
  return a;
}

/** `value` as the API spells it, whatever its case; anything else is refused with the choices. */
export function oneOf(option: string, value: string, choices: readonly string[]): string {
  const found = choices.find((c) => c.toLowerCase() === value.toLowerCase());
  if (!found) throw new CliError(`${option} must be one of ${choices.join(', ')} (any case); not ${safeText(value)}`);
  return found;
}

export function registerActionCommands(program: Command): void {
  withConn(program.command('actions').description('list machine actions, newest first (the Action center)'))
    .option('--machine <machine>', 'only this machine (id, name or IP)')
    .option('--status <status>', 'Pending, InProgress, Succeeded, Failed, TimeOut or Cancelled')
    .option('--type <type>', 'e.g. Isolate, RefreshInventory')
    .option('--filter <odata>', 'OData $filter')
    .option('--top <n>', 'at most this many', '100')
    .action(async (o: Conn & { machine?: string; status?: string; type?: string; filter?: string; top: string }) => {
      const client = clientFrom(o);
      const q = (v: string) => `'${v.replace(/'/g, "''")}'`;
      const parts: string[] = [];
      if (o.machine) parts.push(`machineId eq ${q((await client.resolveMachine(o.machine)).id)}`);
      if (o.status) parts.push(`status eq ${q(oneOf('--status', o.status, ACTION_STATUSES))}`);
      if (o.type) parts.push(`type eq ${q(oneOf('--type', o.type, ACTION_TYPES))}`);
      if (o.filter) parts.push(`(${o.filter})`);
      const list = await client.actions({ filter: parts.join(' and ') || undefined, top: Number(o.top) });
      print(!!o.json, list, () => actionRows(list));
    });

  withConn(program.command('action').description('show one machine action').argument('<id>', 'action id')).action(async (id: string, o: Conn) => {
    const a = await clientFrom(o).action(id);
    print(!!o.json, a, () => actionRows([a]));
  });

  withConn(program.command('cancel').description('cancel a pending action').argument('<id>', 'action id'))
    .requiredOption('--comment <text>', 'why')
    .action(async (id: string, o: Conn & { comment: string }) => {
      const a = await clientFrom(o).cancel(id, o.comment);
      print(!!o.json, a, () => actionRows([a]));
    });
}
