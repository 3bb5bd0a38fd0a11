import type { Command } from 'commander';
import { clientFrom, CliError } from '../context.js';
import { print, safeText } from '../output.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

const percent = (text: string): number => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 5 || n > 100) throw new CliError(`--cpu takes a whole percent from 5 to 100, not '${text}'`);
  return n;
};

/** `cordon scan-policy list|set|delete`: the CPU share scans may use, globally and per device tag. */
export function registerScanPolicyCommands(program: Command): void {
  const policy = program.command('scan-policy').description("the share of a device's CPU antivirus scans may use when the analyst gives none (global or per tag)");

  withConn(policy.command('list', { isDefault: true }).description('list the scan policies that are set'))
    .action(async (o: Conn) => {
      const list = await clientFrom(o).scanPolicies();
      print(!!o.json, list, () => ({ head: ['policy', 'cpu %', 'updated', 'by', 'comment'], rows: list.map((p) => [p.tag === null ? 'global' : `tag:${p.tag}`, String(p.cpuPercent), p.updatedAt, p.updatedBy, p.comment ?? '']) }));
    });

  withConn(policy.command('set').description('set the global policy, or a tag\'s (a device with several tags gets the lowest share)'))
    .requiredOption('--cpu <percent>', 'share of the device\'s CPU, 5-100')
    .option('--tag <tag>', 'the policy of this tag (default: the global policy)')
    .option('--comment <text>', 'why (kept in the audit log)')
    .action(async (o: Conn & { cpu: string; tag?: string; comment?: string }) => {
      const p = await clientFrom(o).setScanPolicy(o.tag, percent(o.cpu), o.comment);
      print(!!o.json, p, () => ({ head: ['policy', 'cpu %'], rows: [[p.tag === null ? 'global' : `tag:${p.tag}`, String(p.cpuPercent)]] }));
    });

  withConn(policy.command('delete').description('remove the global policy, or a tag\'s'))
    .option('--tag <tag>', 'the policy of this tag (default: the global policy)')
    .option('--comment <text>', 'why (kept in the audit log)')
    .action(async (o: Conn & { tag?: string; comment?: string }) => {
      await clientFrom(o).deleteScanPolicy(o.tag, o.comment);
      process.stdout.write(`deleted ${o.tag === undefined ? 'the global scan policy' : `the scan policy of tag '${safeText(o.tag)}'`}\n`);
    });
}
