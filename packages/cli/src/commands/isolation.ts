import type { Command } from 'commander';
import type { AllowEntry, CordonClient, IsolationPolicy } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print, safeText } from '../output.js';
import { DATABASE_URL_HELP, withStore } from './admin.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

/**
 * Reads an allow entry as typed on the command line: `program:/usr/bin/ssh`, `unit:sshd.service`,
 * or a destination (`10.0.0.0/8`, `10.1.2.3:443`, `updates.example.com:443`, optionally
 * `destination:…`). The server checks the entry itself and names what is wrong.
 */
export function parseAllowArg(text: string): AllowEntry {
  const m = /^(program|unit|destination):(.*)$/.exec(text.trim());
  if (m?.[1] === 'program') return { program: m[2]! };
  if (m?.[1] === 'unit') return { unit: m[2]! };
  return { destination: m ? m[2]! : text.trim() };
}

const kindOf = (e: AllowEntry): [string, string] => ('destination' in e ? ['destination', e.destination] : 'program' in e ? ['program', e.program] : ['unit', e.unit]);

const policyRows = (p: IsolationPolicy) => ({
  head: ['kind', 'allow', 'description'],
  rows: p.allow.map((e) => [...kindOf(e), e.description ?? null]),
});

const policyName = (tag?: string) => (tag === undefined ? 'the global policy' : `the policy of tag '${tag}'`);

export function registerIsolationCommands(program: Command): void {
  withConn(program.command('release-token').description('issue an offline (break-glass) release token for one machine; prints the token alone').argument('<machine>', 'id, name or IP'))
    .requiredOption('--comment <text>', 'why (recorded in the audit log)')
    .option('--hours <n>', 'hours until the token expires (1 to 720)', '24')
    .option('--data-dir <dir>', "sign with the server data directory's key directly (the server need not run; a backup of its data directory will do)")
    .option('--database-url <url>', `with --data-dir: ${DATABASE_URL_HELP}`)
    .action(async (ref: string, o: Conn & { comment: string; hours: string; dataDir?: string; databaseUrl?: string }) => {
      const hours = Number(o.hours);
      if (!/^\d+$/.test(o.hours) || hours < 1 || hours > 720) throw new CliError(`--hours must be a whole number of hours from 1 to 720, not '${o.hours}'`);
      const t = o.dataDir ? await withStore(o, (s) => issueOffline(s, ref, o.comment, hours)) : await issueOnline(clientFrom(o), ref, o.comment, hours);
      if (o.json) print(true, t);
      else {
        process.stdout.write(`${t.token}\n`);
        process.stderr.write(`token ${t.tokenId} for ${safeText(t.computerDnsName)} expires ${t.expiresAt}${t.isolatedSince ? ` (releases the isolation in force since ${t.isolatedSince})` : ''}; on the device: cordon agent release --token <token>\n`);
      }
    });

  const policy = program.command('isolation-policy').description('show or change the selective-isolation policy (global or per tag)');

  withConn(policy.command('show', { isDefault: true }).description('show the global policy, a tag policy, all policies, or what applies to a machine'))
    .option('--tag <tag>', "the policy of this tag instead of the global one")
    .option('--machine <machine>', 'the effective allow list of this machine (global + its tags)')
    .option('--all', 'list every policy that is set')
    .action(async (o: Conn & { tag?: string; machine?: string; all?: boolean }) => {
      const client = clientFrom(o);
      if (o.machine) {
        const e = await client.effectiveIsolationPolicy((await client.resolveMachine(o.machine)).id);
        print(!!o.json, e, () => ({ head: ['kind', 'allow', 'from', 'description'], rows: e.allow.map((x) => [...kindOf(x), x.from.join(', '), x.description ?? null]) }));
        return;
      }
      if (o.all) {
        const list = await client.isolationPolicies();
        print(!!o.json, list, () => ({ head: ['policy', 'entries', 'updated', 'by', 'comment'], rows: list.map((p) => [p.tag === null ? 'global' : `tag:${p.tag}`, p.allow.length, p.updatedAt, p.updatedBy, p.comment]) }));
        return;
      }
      const p = await client.isolationPolicy(o.tag);
      print(!!o.json, p, () => policyRows(p));
    });

  withConn(policy.command('set').description(`replace a policy's allow list; entries like 10.0.0.0/8, host:443, program:/usr/bin/ssh, unit:sshd.service`))
    .option('--tag <tag>', 'the policy of this tag (default: the global policy)')
    .option('--allow <entry...>', 'what stays reachable (one or more entries)')
    .option('--clear', 'set an empty allow list')
    .requiredOption('--comment <text>', 'why (recorded in the audit log)')
    .action(async (o: Conn & { tag?: string; allow?: string[]; clear?: boolean; comment: string }) => {
      if (!o.allow === !o.clear) throw new CliError('give the entries with --allow, or --clear for an empty list');
      const p = await clientFrom(o).setIsolationPolicy(o.tag, (o.allow ?? []).map(parseAllowArg), o.comment);
      print(!!o.json, p, () => policyRows(p));
    });

  withConn(policy.command('delete').description("delete a tag's policy"))
    .requiredOption('--tag <tag>', 'the tag whose policy goes')
    .requiredOption('--comment <text>', 'why (recorded in the audit log)')
    .action(async (o: Conn & { tag: string; comment: string }) => {
      await clientFrom(o).deleteIsolationPolicy(o.tag, o.comment);
      if (o.json) print(true, { deleted: true, tag: o.tag });
      else process.stdout.write(`deleted ${policyName(o.tag)}\n`);
    });
}

type IssuedToken = Awaited<ReturnType<CordonClient['releaseToken']>>;

async function issueOnline(client: CordonClient, ref: string, comment: string, hours: number): Promise<IssuedToken> {
  const m = await client.resolveMachine(ref);
  return client.releaseToken(m.id, comment, hours);
}

/** From the server's data directory: the store and key are read directly, and the issue is audited there too. */
async function issueOffline(server: Parameters<Parameters<typeof withStore>[1]>[0], ref: string, comment: string, hours: number): Promise<IssuedToken> {
  const q = `'${ref.replace(/'/g, "''")}'`;
  const found = await (await server.services.machines.list({ filter: `id eq ${q} or computerDnsName eq ${q} or lastIpAddress eq ${q}`, top: 2, skip: 0 })).value;
  if (found.length === 0) throw new CliError(`no machine '${ref}' in this data directory`);
  if (found.length > 1) throw new CliError(`'${ref}' names more than one machine; use its id`);
  return server.services.releaseTokens.issue({ id: 'cli', name: 'cli (server data directory)', role: 'admin' }, found[0]!.id, comment, hours);
}
