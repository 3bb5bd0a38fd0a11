import type { Command } from 'commander';
import type { CordonClient, DeviceGroup } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print, safeText } from '../output.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

interface GroupOptions {
  tag?: string;
  rank?: string;
  description?: string;
  comment?: string;
}

const rankOf = (text: string | undefined): number | undefined => {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 10_000) throw new CliError(`--rank takes a whole number from 1 (the highest priority) to 10000, not '${text}'`);
  return n;
};

const onOff = (text: string): boolean => {
  if (text === 'on') return true;
  if (text === 'off') return false;
  throw new CliError(`--shell takes on or off, not '${text}'`);
};

const rows = (list: DeviceGroup[]) => ({
  head: ['rank', 'id', 'name', 'rule', 'shell', 'description'],
  rows: list.map((g) => [g.rank, g.id, g.name, `tag:${g.rule.tag}`, g.liveResponseShell ? 'on' : 'off', g.description]),
});

/** A group named by its id or its name (whatever its case). */
async function resolveGroup(client: CordonClient, ref: string): Promise<DeviceGroup> {
  const list = await client.deviceGroups();
  const found = /^\d+$/.test(ref) ? list.find((g) => g.id === Number(ref)) : list.find((g) => g.name.toLowerCase() === ref.toLowerCase());
  if (!found) throw new CliError(`no device group ${/^\d+$/.test(ref) ? 'with id' : 'named'} '${safeText(ref)}'; see cordon groups list`, 4);
  return found;
}

/** `cordon groups list|add|set|remove`: device groups (ranked; a device belongs to the highest-ranked group whose tag it carries). */
export function registerGroupCommands(program: Command): void {
  const groups = program.command('groups').description("device groups: ranked, each taking the devices that carry its tag; what they allow (live response's shell)");

  withConn(groups.command('list', { isDefault: true }).description('list the device groups, highest priority (rank 1) first'))
    .action(async (o: Conn) => {
      const list = await clientFrom(o).deviceGroups();
      print(!!o.json, list, () => rows(list));
    });

  withConn(groups.command('add').description('add a device group').argument('<name>', 'its name (unique, whatever its case)'))
    .requiredOption('--tag <tag>', 'devices carrying this tag belong to it (exact, whatever its case)')
    .option('--rank <n>', 'its priority, 1 the highest (default: after every other group)')
    .option('--description <text>', 'what it is for')
    .option('--shell', "allow live response's shell on its devices (default: not allowed)")
    .option('--comment <text>', 'why (kept in the audit log)')
    .action(async (name: string, o: Conn & GroupOptions & { shell?: boolean }) => {
      const g = await clientFrom(o).addDeviceGroup({ name, rule: { tag: o.tag! }, rank: rankOf(o.rank), description: o.description, liveResponseShell: !!o.shell, comment: o.comment });
      print(!!o.json, g, () => rows([g]));
    });

  withConn(groups.command('set').description('change a device group (only what is given)').argument('<group>', 'its id or name'))
    .option('--name <name>', 'a new name')
    .option('--tag <tag>', 'devices carrying this tag belong to it')
    .option('--rank <n>', 'its priority, 1 the highest')
    .option('--description <text>', "what it is for ('' to clear)")
    .option('--shell <on|off>', "allow live response's shell on its devices, or not")
    .option('--comment <text>', 'why (kept in the audit log)')
    .action(async (ref: string, o: Conn & GroupOptions & { name?: string; shell?: string }) => {
      const client = clientFrom(o);
      const change = {
        ...(o.name !== undefined ? { name: o.name } : {}),
        ...(o.tag !== undefined ? { rule: { tag: o.tag } } : {}),
        ...(o.rank !== undefined ? { rank: rankOf(o.rank) } : {}),
        ...(o.description !== undefined ? { description: o.description === '' ? null : o.description } : {}),
        ...(o.shell !== undefined ? { liveResponseShell: onOff(o.shell) } : {}),
      };
      if (Object.keys(change).length === 0) throw new CliError('nothing to change: give --name, --tag, --rank, --description or --shell');
      const g = await client.updateDeviceGroup((await resolveGroup(client, ref)).id, { ...change, comment: o.comment });
      print(!!o.json, g, () => rows([g]));
    });

  withConn(groups.command('remove').description('delete a device group (its devices join the next group that matches them, or Ungrouped devices)').argument('<group>', 'its id or name'))
    .option('--comment <text>', 'why (kept in the audit log)')
    .action(async (ref: string, o: Conn & { comment?: string }) => {
      const client = clientFrom(o);
      const g = await resolveGroup(client, ref);
      await client.deleteDeviceGroup(g.id, o.comment);
      process.stdout.write(`deleted device group ${safeText(g.name)} (id ${g.id})\n`);
    });
}
