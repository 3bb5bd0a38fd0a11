import type { Command } from 'commander';
import { destination, pino } from 'pino';
import { Agent, agentConfig, breakGlassRelease, currentPlatform, enroll, loadAgentConfig, localInventory, parseServerUrls, parseToken } from '@cordon/agent';

/** A flag's help text is the config declaration's. */
const help = (key: 'dataDir' | 'logLevel' | 'logFormat') => `${agentConfig.keys[key].help} (env ${agentConfig.envName(key)})`;

export function registerAgentCommands(program: Command): void {
  const agent = program.command('agent').description('the endpoint agent');

  agent
    .command('enroll')
    .description('enroll this device with a server (pins the server CA from the token)')
    .requiredOption('--server <url[,url…]>', 'the agent URL the server printed, e.g. https://server:8443; several nodes comma-separated (the agent moves to another when its own is gone)')
    .requiredOption('--token <token>', 'an enrollment token')
    .option('--data-dir <dir>', help('dataDir'))
    .action(async (o: { server: string; token: string; dataDir?: string }) => {
      // Bad input is refused before the device is described or any server is asked.
      const servers = parseServerUrls(o.server);
      parseToken(o.token);
      const cfg = loadAgentConfig({ dataDir: o.dataDir });
      const inv = await localInventory(cfg.tags);
      const state = await enroll(servers, o.token, cfg.dataDir, inv);
      process.stdout.write(`enrolled: machine ${state.machineId} (servers: ${state.serverUrls.join(', ')})\n`);
    });

  agent
    .command('run')
    .description('run the agent: stay connected, run signed commands')
    .option('--data-dir <dir>', help('dataDir'))
    .option('--log-level <level>', help('logLevel'))
    .option('--log-format <format>', help('logFormat'))
    .action(async (o: { dataDir?: string; logLevel?: string; logFormat?: string }) => {
      const a = new Agent(loadAgentConfig({ dataDir: o.dataDir, logLevel: o.logLevel, logFormat: o.logFormat }));
      await a.start();
      let stopping = false;
      for (const sig of ['SIGINT', 'SIGTERM'] as const) {
        process.on(sig, () => {
          if (stopping) return;
          stopping = true;
          void a.stop().then(() => process.exit(0));
        });
      }
    });

  agent
    .command('release')
    .description('break-glass: release isolation on this device with a token an admin issued (works with the server gone)')
    .requiredOption('--token <token>', 'the release token (crt1.…) from `cordon release-token`')
    .option('--data-dir <dir>', help('dataDir'))
    .action(async (o: { token: string; dataDir?: string }) => {
      const cfg = loadAgentConfig({ dataDir: o.dataDir });
      const r = await breakGlassRelease(cfg.dataDir, o.token, currentPlatform(), pino({ level: 'warn' }, destination(2)));
      process.stdout.write(`isolation released (token ${String(r.tokenId)}, issued by ${String(r.issuedBy)})\n`);
    });
}
