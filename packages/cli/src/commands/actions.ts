import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { ACTION_STATUSES, ACTION_TYPES } from '@cordon/protocol';
import type { CordonClient, MachineAction } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print, safeText } from '../output.js';
import { actionProgress } from '../progress.js';
import { awaitsAlerts, resultSummary } from './action-results.js';
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

/** How `submitAction` follows an action with `wait`. */
export interface FollowOptions {
  json?: boolean;
  wait?: boolean;
  /** How long to wait (default 2 minutes). */
  waitMinutes?: number;
  /** The action can be cancelled while it runs (a scan): Ctrl-C's hint says how. */
  cancelWhileRunning?: boolean;
}

/** The longest a finished action's result waits for its alerts to be linked (their events may trail it). */
const ALERT_LINK_WAIT_MS = 5_000;

/**
 * Submits one action to a machine (id, name or IP) and prints it; with `wait`, follows it to its
 * end (status and progress on stderr) and fails unless it Succeeded, then says what its result
 * found (a scan's detections). Every single-machine action command uses this.
 */
export async function submitAction(client: CordonClient, ref: string, path: string, body: Record<string, unknown>, o: FollowOptions): Promise<MachineAction> {
  const m = await client.resolveMachine(ref);
  let a = await client.submit(m.id, path, body);
  if (o.wait) {
    a = await follow(client, a, o);
    if (a.status !== 'Succeeded') {
      if (o.json) print(true, a);
      if (a.status === 'Pending' || a.status === 'InProgress') throw new CliError(`action ${a.id} is still ${a.status} after ${o.waitMinutes ?? 2} minutes; follow it with: cordon action ${a.id}`);
      throw new CliError(`action ${a.id} ended ${a.status}${a.error ? `: ${a.error}` : ''}`);
    }
    if (awaitsAlerts(a)) a = await withAlertLinks(client, a);
  }
  print(!!o.json, a, () => actionRows([a]));
  const summary = o.json ? null : resultSummary(a);
  if (summary) process.stdout.write(summary);
  return a;
}

/**
 * Follows an action until it ends, showing its progress. Ctrl-C stops the waiting, not the action:
 * the message says so, and how to follow or cancel it.
 */
async function follow(client: CordonClient, submitted: MachineAction, o: FollowOptions): Promise<MachineAction> {
  const shown = actionProgress(!!o.json);
  const interrupted = new AbortController();
  const onInterrupt = () => interrupted.abort();
  process.once('SIGINT', onInterrupt);
  let last = submitted;
  try {
    return await client.waitFor(submitted.id, (o.waitMinutes ?? 2) * 60_000, (a) => shown.show((last = a)), interrupted.signal);
  } catch (e) {
    if (!interrupted.signal.aborted) throw e;
    const cancel = last.status === 'Pending' || o.cancelWhileRunning ? `; cancel it with: cordon cancel ${submitted.id} --comment "…"` : '';
    throw new CliError(`stopped waiting; the action goes on on ${submitted.computerDnsName} (Ctrl-C does not cancel it). Follow it with: cordon action ${submitted.id}${cancel}`, 130);
  } finally {
    process.off('SIGINT', onInterrupt);
    shown.done();
  }
}

/** The action again, a few times, until the alerts its result names are linked (or a few seconds passed). */
async function withAlertLinks(client: CordonClient, a: MachineAction): Promise<MachineAction> {
  const deadline = Date.now() + ALERT_LINK_WAIT_MS;
  while (awaitsAlerts(a) && Date.now() < deadline) {
    await sleep(250);
    a = await client.action(a.id);
  }
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

  withConn(program.command('cancel').description('cancel a pending action, or a running one that can stop (a scan)').argument('<id>', 'action id'))
    .requiredOption('--comment <text>', 'why')
    .action(async (id: string, o: Conn & { comment: string }) => {
      const a = await clientFrom(o).cancel(id, o.comment);
      print(!!o.json, a, () => actionRows([a]));
    });
}
