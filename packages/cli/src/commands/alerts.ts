import type { Command } from 'commander';
import type { Alert } from '../api-client.js';
import { CliError, clientFrom } from '../context.js';
import { print, since } from '../output.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

const STATUSES = ['New', 'InProgress', 'Resolved'] as const;

/** `high,medium` → `severity in ('High','Medium')`: the names as the API spells them, whatever the case typed. */
function oneOfFilter(field: string, list: string | undefined, values: readonly string[]): string | undefined {
  if (!list) return undefined;
  const picked = list.split(',').map((v) => {
    const match = values.find((x) => x.toLowerCase() === v.trim().toLowerCase());
    if (!match) throw new CliError(`--${field === 'severity' ? 'severity' : 'status'} takes ${values.join(', ')}; not '${v.trim()}'`);
    return `'${match}'`;
  });
  return `${field} in (${picked.join(',')})`;
}

function evidenceText(e: Alert['evidence'][number]): string {
  const parts = [e.filePath, e.sha256 && `sha256 ${e.sha256}`, e.sha1 && `sha1 ${e.sha1}`, e.processId !== null && `pid ${e.processId}`, e.processCommandLine, e.accountName && `user ${e.accountName}`, e.ipAddress && `${e.ipAddress}${e.port !== null ? `:${e.port}` : ''}`, e.domain, e.url];
  return `${e.entityType}: ${parts.filter(Boolean).join(', ')}`;
}

function showAlert(json: boolean, a: Alert): void {
  print(json, a, () => ({
    head: ['field', 'value'],
    rows: [
      ['id', a.id],
      ['title', a.title],
      ['severity', a.severity],
      ['status', `${a.status}${a.resolvedTime ? ` (resolved ${a.resolvedTime})` : ''}`],
      ['device', a.machineId ? `${a.computerDnsName ?? ''} (${a.machineId})` : `${a.computerDnsName ?? '?'} (not enrolled yet)`],
      ['source', `${a.detectionSource}${a.category ? ` · ${a.category}` : ''}`],
      ['events', `${a.eventCount}, first ${a.firstEventTime}, last ${a.lastEventTime}`],
      ['assigned to', a.assignedTo],
      ['classification', [a.classification, a.determination].filter(Boolean).join(' · ') || null],
      ['description', a.description],
      ...a.evidence.map((e, i) => [i === 0 ? 'evidence' : '', evidenceText(e)]),
      ...a.comments.map((c, i) => [i === 0 ? 'comments' : '', `${c.createdTime} ${c.createdBy}: ${c.comment}`]),
    ],
  }));
}

export function registerAlertCommands(program: Command): void {
  withConn(program.command('alerts').description('the alerts queue, newest first'))
    .option('--severity <list>', 'only these severities, e.g. high,medium')
    .option('--status <list>', 'only these statuses, e.g. new,inprogress (default: all)')
    .option('--machine <machine>', "only this device's alerts (id, name or IP address)")
    .option('--filter <odata>', "OData $filter, e.g. \"detectionSource eq 'Falco'\"")
    .option('--top <n>', 'at most this many', '100')
    .action(async (o: Conn & { severity?: string; status?: string; machine?: string; filter?: string; top: string }) => {
      const client = clientFrom(o);
      const machineId = o.machine ? (await client.resolveMachine(o.machine)).id : undefined;
      const parts = [o.filter, oneOfFilter('severity', o.severity, ['Informational', 'Low', 'Medium', 'High']), oneOfFilter('status', o.status, STATUSES), machineId && `machineId eq '${machineId}'`].filter(Boolean);
      const alerts = await client.alerts({ filter: parts.map((p) => `(${p})`).join(' and '), top: Number(o.top) });
      print(!!o.json, alerts, () => ({
        head: ['id', 'severity', 'status', 'title', 'device', 'source', 'count', 'assigned', 'raised'],
        rows: alerts.map((a) => [a.id, a.severity, a.status, a.title, a.computerDnsName, a.detectionSource, a.eventCount, a.assignedTo, since(a.alertCreationTime)]),
      }));
    });

  withConn(program.command('alert').description('show one alert, or change it with --status, --assign, --classification, --determination, --comment').argument('<id>', 'the alert id'))
    .option('--status <status>', STATUSES.join('|'))
    .option('--assign <who>', 'assign it to someone')
    .option('--unassign', 'assign it to nobody')
    .option('--classification <c>', 'TruePositive|InformationalExpectedActivity|FalsePositive')
    .option('--determination <d>', 'e.g. Malware, SecurityTesting, NotMalicious')
    .option('--comment <text>', 'add a comment')
    .action(async (id: string, o: Conn & { status?: string; assign?: string; unassign?: boolean; classification?: string; determination?: string; comment?: string }) => {
      const client = clientFrom(o);
      if (o.assign !== undefined && o.unassign) throw new CliError('give --assign or --unassign, not both');
      const status = o.status === undefined ? undefined : STATUSES.find((s) => s.toLowerCase() === o.status!.toLowerCase());
      if (o.status !== undefined && !status) throw new CliError(`--status takes ${STATUSES.join(', ')}; not '${o.status}'`);
      const change = { status, assignedTo: o.unassign ? null : o.assign, classification: o.classification, determination: o.determination, comment: o.comment };
      const changing = Object.values(change).some((v) => v !== undefined);
      showAlert(!!o.json, changing ? await client.updateAlert(id, change) : await client.alert(id));
    });
}
