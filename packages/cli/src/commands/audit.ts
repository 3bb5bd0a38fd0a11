import type { Command } from 'commander';
import { clientFrom } from '../context.js';
import { print, safeText } from '../output.js';
import { DATABASE_URL_HELP, withStore } from './admin.js';
import { withConn } from './machines.js';

type Verification = Awaited<ReturnType<ReturnType<typeof clientFrom>['auditVerify']>>;

export function registerAuditCommands(program: Command): void {
  const audit = program.command('audit').description('the audit log');

  withConn(audit.command('list').description('audit records, newest first'))
    .option('--top <n>', 'at most this many', '50')
    .action(async (o: { server?: string; token?: string; json?: boolean; top: string }) => {
      const records = await clientFrom(o).audit(Number(o.top));
      print(!!o.json, records, () => ({
        head: ['#', 'time', 'actor', 'action', 'target', 'outcome', 'comment'],
        rows: records.map((r) => [r.seq, r.time, r.actor, r.action, r.targetId ? `${r.targetType} ${r.targetId}` : r.targetType, r.outcome, r.comment]),
      }));
    });

  withConn(audit.command('verify').description('check the audit chain and its signed checkpoints; exits 1 and names the first broken record if the log was tampered with'))
    .option('--data-dir <dir>', "check the server's store directly instead of asking the server")
    .option('--database-url <url>', `with --data-dir: ${DATABASE_URL_HELP}`)
    .action(async (o: { server?: string; token?: string; json?: boolean; dataDir?: string; databaseUrl?: string }) => {
      const v: Verification = o.dataDir ? await withStore(o, (s) => s.services.auditIntegrity.verify()) : await clientFrom(o).auditVerify();
      if (o.json) print(true, v);
      else process.stdout.write(describe(v));
      if (!v.verified) process.exitCode = 1;
    });
}

function describe(v: Verification): string {
  const covered = v.lastCheckpoint ? `last signed checkpoint ${v.lastCheckpoint.time} (record ${v.lastCheckpoint.seq}); ${v.sinceLastCheckpoint} record(s) since` : 'no signed checkpoint yet';
  if (v.verified) return `audit log verified: ${v.records} record(s) intact; ${v.checkpoints} checkpoint(s), ${covered}\n`;
  const b = v.firstBroken!;
  return `AUDIT LOG TAMPERED: ${safeText(b.reason)}\n  first broken record: ${b.seq}${b.id !== null ? ` (id ${b.id})` : ''}${b.time ? `, written ${b.time}` : ''}\n  ${v.records} record(s) checked before it; ${covered}\n`;
}
