import { Command, CommanderError } from 'commander';
import { ACTION_CATALOG, type ActionCatalog } from '@cordon/protocol';
import { ApiRequestError } from './api-client.js';
import { CliError } from './context.js';
import { safeText } from './output.js';
import { registerActionVerbs } from './commands/action-verbs.js';
import { registerActionCommands } from './commands/actions.js';
import { registerAdminCommands } from './commands/admin.js';
import { registerAgentCommands } from './commands/agent.js';
import { registerAlertCommands } from './commands/alerts.js';
import { registerAuditCommands } from './commands/audit.js';
import { registerGroupCommands } from './commands/groups.js';
import { registerIndicatorCommands } from './commands/indicators.js';
import { registerIsolationCommands } from './commands/isolation.js';
import { registerLibraryCommands } from './commands/library.js';
import { registerLiveCommands } from './commands/live.js';
import { registerMachineCommands } from './commands/machines.js';
import { registerPackageCommands } from './commands/packages.js';
import { registerQuarantineCommands } from './commands/quarantine.js';
import { registerRulePackCommands } from './commands/rulepacks.js';
import { registerScanPolicyCommands } from './commands/scan-policies.js';
import { registerServerCommands } from './commands/server.js';

export function buildProgram(catalog: ActionCatalog = ACTION_CATALOG): Command {
  const program = new Command('cordon').description('Cordon endpoint response: server, agent and analyst commands').version('0.1.0').showHelpAfterError().exitOverride();
  registerServerCommands(program);
  registerAdminCommands(program);
  registerAuditCommands(program);
  registerAgentCommands(program);
  registerMachineCommands(program);
  registerActionCommands(program);
  registerActionVerbs(program, catalog);
  registerIsolationCommands(program);
  registerPackageCommands(program);
  registerAlertCommands(program);
  registerIndicatorCommands(program);
  registerRulePackCommands(program);
  registerLibraryCommands(program);
  registerLiveCommands(program);
  registerScanPolicyCommands(program);
  registerQuarantineCommands(program);
  registerGroupCommands(program);
  return program;
}

/** Runs the CLI; any failure is one line on stderr and a non-zero exit, never a stack trace. */
export async function main(argv: string[]): Promise<void> {
  try {
    await buildProgram().parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode);
    const message = e instanceof ApiRequestError ? `${e.message}${e.target ? ` (${e.target})` : ''}` : e instanceof Error ? e.message : String(e);
    // API messages may quote what a device reported (its host name): shown escaped, one line per line.
    process.stderr.write(`cordon: ${message.split('\n').map(safeText).join('\n  ')}\n`);
    if (process.env.CORDON_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    process.exit(e instanceof CliError ? e.exitCode : e instanceof ApiRequestError && e.status === 404 ? 4 : 1);
  }
}
