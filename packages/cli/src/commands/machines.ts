import type { Command } from 'commander';
import type { Machine } from '../api-client.js';
import { clientFrom } from '../context.js';
import { print, since } from '../output.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

export function withConn(cmd: Command): Command {
  return cmd.option('--server <url>', 'server URL (or CORDON_SERVER)').option('--token <token>', 'API token (or CORDON_TOKEN)').option('--json', 'print JSON');
}

/** The isolation state with what the agent reported, and how to undo it once isolated. */
function isolationText(m: Machine): string {
  const r = m.isolation;
  const detail = r?.state === 'Isolated' && m.isolationState === 'Isolated' ? ` (${r.type ?? 'Full'}${r.since ? ` since ${r.since}` : ''}); release with: cordon release ${m.computerDnsName} --comment …` : '';
  const broken = r?.releasedBy === 'breakGlass' && m.isolationState === 'NotIsolated' ? ' (last released on the device with a break-glass token)' : '';
  return `${m.isolationState}${detail}${broken}`;
}

/** The restriction state with the guard's health (a gap in enforcement), and how to undo it. */
function restrictionText(m: Machine): string {
  const r = m.restriction;
  if (r?.state !== 'Restricted' || m.restrictionState !== 'Restricted') return m.restrictionState;
  const guard = r.guard === 'restarting' ? '; guard restarting: programs start unchecked until it is back' : '';
  const error = r.error ? `; last error: ${r.error}` : '';
  return `Restricted${r.since ? ` (since ${r.since})` : ''}${guard}${error}; remove with: cordon unrestrict ${m.computerDnsName} --comment …`;
}

/** One row per capability: usable, or unavailable and why (what the device lacks). */
function capabilityRows(m: Machine): string[][] {
  if (m.capabilities.length === 0) return [['capabilities', 'none reported']];
  return m.capabilities.map((c, i) => [i === 0 ? 'capabilities' : '', `${c.name} ${c.version}${c.provider ? ` (${c.provider})` : ''} — ${c.unavailable ? `unavailable: ${c.unavailable}` : 'usable'}`]);
}

export function registerMachineCommands(program: Command): void {
  withConn(program.command('machines').description('list machines'))
    .option('--filter <odata>', "OData $filter, e.g. \"healthStatus eq 'Active'\"")
    .option('--tag <tag>', 'only machines with this tag')
    .option('--top <n>', 'at most this many', '1000')
    .action(async (o: Conn & { filter?: string; tag?: string; top: string }) => {
      const parts = [o.filter, o.tag ? `machineTags/any(t: t eq '${o.tag.replace(/'/g, "''")}')` : undefined].filter(Boolean);
      const list = await clientFrom(o).machines({ filter: parts.length ? parts.map((p) => `(${p})`).join(' and ') : undefined, top: Number(o.top) });
      print(!!o.json, list, () => ({
        head: ['id', 'name', 'health', 'last seen', 'ip', 'isolation', 'tags'],
        rows: list.map((m) => [m.id, m.computerDnsName, m.healthStatus, since(m.lastSeen), m.lastIpAddress, m.isolationState, m.machineTags.join(', ')]),
      }));
    });

  const machine = withConn(program.command('machine').description('show one machine (or: machine revoke <machine> --comment C)').argument('<machine>', 'id, name or IP address'));
  machine.action(async (ref: string, o: Conn) => {
    const m = await clientFrom(o).resolveMachine(ref);
    print(!!o.json, m, () => ({
      head: ['field', 'value'],
      rows: [
        ['id', m.id],
        ['name', m.computerDnsName],
        ['os', `${m.osPlatform} ${m.osVersion}`],
        ['agent', m.agentVersion],
        ['health', `${m.healthStatus}${m.isConnected ? ' (connected)' : ''}`],
        ['last seen', `${m.lastSeen} (${since(m.lastSeen)})`],
        ['ip', m.lastIpAddress],
        ['isolation', isolationText(m)],
        ['restriction', restrictionText(m)],
        ['tags', m.machineTagDetails.map((t) => (t.source === 'device' ? `${t.tag} (device)` : t.tag)).join(', ')],
        ['group', m.rbacGroupName ?? 'Ungrouped devices'],
        ...capabilityRows(m),
        ...(m.credentialRevokedAt ? [['credential', `revoked ${m.credentialRevokedAt} by ${m.credentialRevokedBy ?? '?'}; the agent must enroll again`]] : []),
      ],
    }));
  });

  withConn(machine.command('revoke').description("admin: revoke a device's credential; its agent is disconnected at once and refused until it enrolls again").argument('<machine>', 'id, name or IP address'))
    .requiredOption('--comment <text>', 'why (kept in the audit log and on the timeline)')
    .action(async (ref: string, _o: unknown, cmd: Command) => {
      // `machine` has the same connection options: whichever of the two parsed them, both count.
      const o = cmd.optsWithGlobals<Conn & { comment: string }>();
      const client = clientFrom(o);
      const m = await client.revokeCredential((await client.resolveMachine(ref)).id, o.comment);
      print(!!o.json, m, () => ({ head: ['revoked', 'name', 'at', 'by', 'connected'], rows: [[m.id, m.computerDnsName, m.credentialRevokedAt, m.credentialRevokedBy, m.isConnected ? 'yes' : 'no']] }));
    });

  withConn(program.command('tag').description('add (or --remove) a tag on one or more machines').argument('<machines>', 'id, name or IP; several separated by commas').argument('<tag>', 'the tag'))
    .option('--remove', 'remove the tag instead')
    .action(async (refs: string, tag: string, o: Conn & { remove?: boolean }) => {
      const client = clientFrom(o);
      const ids = await Promise.all(refs.split(',').map(async (r) => (await client.resolveMachine(r.trim())).id));
      const action = o.remove ? 'Remove' : 'Add';
      const machines = ids.length === 1 ? [await client.tag(ids[0]!, tag, action)] : await client.tagMany(ids, tag, action);
      print(!!o.json, machines, () => ({ head: ['id', 'name', 'tags'], rows: machines.map((m) => [m.id, m.computerDnsName, m.machineTags.join(', ')]) }));
    });

  withConn(program.command('timeline').description("a machine's timeline, newest first").argument('<machine>', 'id, name or IP'))
    .option('--top <n>', 'at most this many events', '50')
    .action(async (ref: string, o: Conn & { top: string }) => {
      const client = clientFrom(o);
      const events = await client.timeline((await client.resolveMachine(ref)).id, Number(o.top));
      print(!!o.json, events, () => ({ head: ['time', 'event', 'what', 'by'], rows: events.map((e) => [e.time, e.eventType, e.title, e.actor]) }));
    });
}
