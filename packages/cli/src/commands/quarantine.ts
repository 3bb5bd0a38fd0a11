import type { Command } from 'commander';
import type { QuarantinedFile } from '../api-client.js';
import { clientFrom, CliError } from '../context.js';
import { print, safeText } from '../output.js';
import { submitAction } from './actions.js';
import { withConn } from './machines.js';

interface Conn {
  server?: string;
  token?: string;
  json?: boolean;
}

const rows = (list: QuarantinedFile[]) => ({
  head: ['quarantine id', 'state', 'path', 'size', 'sha256', 'quarantined', 'by', 'restored'],
  rows: list.map((f) => [f.quarantineId, f.state, f.filePath, f.size, f.sha256, f.quarantinedAt, f.quarantinedBy, f.restoredAt ? `${f.restoredAt} by ${f.restoredBy ?? '?'}` : '']),
});

/** What a finished StopAndQuarantineFile did, a line each (its result). */
function printOutcome(result: Record<string, unknown> | null | undefined): void {
  const r = (result ?? {}) as { killed?: { pid: number; commandLine: string }[]; quarantined?: { quarantineId: string; path: string }[]; notFound?: string[]; refused?: { path: string; reason: string }[] };
  const lines = [
    ...(r.killed ?? []).map((k) => `killed ${k.pid}: ${k.commandLine}`),
    ...(r.quarantined ?? []).map((q) => `quarantined ${q.path} (restore with: cordon quarantine restore <machine> ${q.quarantineId} --comment …)`),
    ...(r.notFound ?? []).map((p) => `not found: ${p}`),
    ...(r.refused ?? []).map((x) => `refused ${x.path}: ${x.reason}`),
  ];
  for (const l of lines) process.stdout.write(`${safeText(l)}\n`);
}

/** `cordon quarantine list|file|restore`: Stop and quarantine file, the device's vault, and restoring from it. */
export function registerQuarantineCommands(program: Command): void {
  const q = program.command('quarantine').description("stop and quarantine files by hash, list a device's quarantined files, restore one");

  withConn(q.command('list').description("list a device's quarantined files, newest first (restored ones too)").argument('<machine>', 'id, name or IP')).action(async (ref: string, o: Conn) => {
    const client = clientFrom(o);
    const m = await client.resolveMachine(ref);
    const list = await client.quarantine(m.id);
    print(!!o.json, list, () => rows(list));
  });

  withConn(q.command('file').description('kill the processes running a file with this hash and move every such file the agent knows of into its vault (StopAndQuarantineFile)').argument('<machine>', 'id, name or IP'))
    .option('--sha256 <hash>', "the file's SHA-256")
    .option('--sha1 <hash>', "the file's SHA-1")
    .option('--path <path>', 'where the file is, besides what the agent finds on its own (absolute, no links)')
    .requiredOption('--comment <text>', 'why (recorded with the action)')
    .option('--wait', 'wait until the action ends, then say what it killed and moved')
    .action(async (ref: string, o: Conn & { sha256?: string; sha1?: string; path?: string; comment: string; wait?: boolean }) => {
      if (!o.sha256 && !o.sha1) throw new CliError('give --sha256 or --sha1');
      const body: Record<string, unknown> = { Comment: o.comment, ...(o.sha256 ? { Sha256: o.sha256 } : {}), ...(o.sha1 ? { Sha1: o.sha1 } : {}), ...(o.path ? { Path: o.path } : {}) };
      const a = await submitAction(clientFrom(o), ref, 'StopAndQuarantineFile', body, o);
      if (o.wait && !o.json) printOutcome(a.result);
    });

  withConn(q.command('restore').description('put a quarantined file back where it was, byte for byte, with its owner, mode and times (RestoreQuarantinedFile)').argument('<machine>', 'id, name or IP').argument('<quarantineId>', 'as `cordon quarantine list` shows it'))
    .requiredOption('--comment <text>', 'why (recorded with the action)')
    .option('--wait', 'wait until the action ends')
    .action(async (ref: string, id: string, o: Conn & { comment: string; wait?: boolean }) => {
      await submitAction(clientFrom(o), ref, 'restoreQuarantinedFile', { Comment: o.comment, QuarantineId: id }, o);
    });
}
