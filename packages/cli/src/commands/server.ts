import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { destination, pino } from 'pino';
import { logDestination, resolveLogFormat } from '@cordon/protocol/log-format';
import { createCordonServer, loadServerConfig, serverConfig, type ServerConfigInput } from '@cordon/server';
import { enroll, loadAgentConfig, localInventory } from '@cordon/agent';
import { writeQuickstart } from '../context.js';


interface ServerFlags {
  dataDir?: string;
  databaseUrl?: string;
  port?: string;
  host?: string;
  agentPort?: string;
  agentHost?: string;
  logLevel?: ServerConfigInput['logLevel'];
  logFormat?: ServerConfigInput['logFormat'];
}

/** Flags for the keys the command line sets; their help text is the config declaration's. */
function serverOptions(cmd: Command): Command {
  const help = (key: keyof ServerFlags) => `${serverConfig.keys[key].help} (env ${serverConfig.envName(key)})`;
  return cmd
    .option('--data-dir <dir>', help('dataDir'))
    .option('--database-url <url>', help('databaseUrl'))
    .option('--port <n>', help('port'))
    .option('--host <h>', help('host'))
    .option('--agent-port <n>', help('agentPort'))
    .option('--agent-host <h>', help('agentHost'))
    .option('--log-level <level>', help('logLevel'))
    .option('--log-format <format>', help('logFormat'));
}

/** Starts the server and prints the lines scripts look for; logs go to stderr. */
async function startServer(flags: ServerFlags, defaults: ServerConfigInput = {}) {
  const config = loadServerConfig({ ...defaults, dataDir: flags.dataDir ?? defaults.dataDir, databaseUrl: flags.databaseUrl, port: flags.port ?? defaults.port, host: flags.host, agentPort: flags.agentPort ?? defaults.agentPort, agentHost: flags.agentHost, logLevel: flags.logLevel, logFormat: flags.logFormat });
  const logFormat = resolveLogFormat(config.logFormat, process.stderr.isTTY);
  const logger = pino({ level: config.logLevel, base: { svc: 'cordon-server' } }, logDestination(logFormat, destination(2)));
  const server = await createCordonServer(config, { logger });
  let urls;
  try {
    urls = await server.listen();
  } catch (e) {
    await server.close();
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new Error(`${err.message.replace(/^listen /, '')}: the port is taken; choose another with --port / --agent-port`);
    throw e;
  }
  return { server, urls, logFormat };
}

function onSignal(stop: () => Promise<void>): void {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) return;
      stopping = true;
      void stop().then(() => process.exit(0));
    });
  }
}

export function registerServerCommands(program: Command): void {
  serverOptions(program.command('server').description('start the Cordon server (API, console, agent gateway; SQLite in the data dir, or PostgreSQL shared by several nodes)')).action(async (flags: ServerFlags) => {
    const { server, urls } = await startServer(flags);
    process.stdout.write(`console: ${urls.apiUrl}\n`);
    process.stdout.write(`agents: ${urls.agentUrl}\n`);
    if (server.initialAdminToken) process.stdout.write(`admin token: ${server.initialAdminToken}\n`);
    if (server.initialAdminPassword) process.stdout.write(`admin password: ${server.initialAdminPassword}   (user: admin; shown once)\n`);
    onSignal(() => server.close());
  });

  serverOptions(program.command('up').description('quick start: server + a local agent on this machine, state under ./.cordon'))
    .option('--agent-data-dir <dir>', 'agent data directory', '.cordon/agent')
    .action(async (flags: ServerFlags & { agentDataDir: string }) => {
      // The quick start keeps the agent gateway on loopback: its only agent is on this machine.
      const { server, urls, logFormat } = await startServer({ agentHost: '127.0.0.1', ...flags }, { dataDir: '.cordon/server' });
      process.stdout.write(`console: ${urls.apiUrl}\n`);
      process.stdout.write(`agents: ${urls.agentUrl}\n`);
      if (server.initialAdminToken) {
        process.stdout.write(`admin token: ${server.initialAdminToken}\n`);
        writeQuickstart(urls.apiUrl, server.initialAdminToken);
      }
      if (server.initialAdminPassword) process.stdout.write(`admin password: ${server.initialAdminPassword}   (user: admin; shown once)\n`);
      const agentDir = resolve(flags.agentDataDir);
      if (!existsSync(join(agentDir, 'enrollment.json'))) {
        const { token } = await server.services.enrollment.createToken('quickstart');
        const cfg = loadAgentConfig({ dataDir: agentDir });
        const inv = await localInventory(cfg.tags);
        await enroll(`https://127.0.0.1:${urls.agentPort}`, token, agentDir, inv);
      }
      let agent: ChildProcess | undefined;
      let stopping = false;
      const runAgent = () => {
        // argv[1] is the `cordon` script this process was started as: the agent runs the same build.
        // Its logs share the server's stderr, so they share its format too.
        agent = spawn(process.execPath, [process.argv[1]!, 'agent', 'run', '--data-dir', agentDir, '--log-format', logFormat], { stdio: ['ignore', 'inherit', 'inherit'] });
        agent.on('exit', (code, signal) => {
          if (stopping) return;
          process.stderr.write(`cordon: the local agent stopped (${signal ?? `exit ${code}`}); restarting it in 2 s\n`);
          setTimeout(runAgent, 2000).unref();
        });
      };
      runAgent();
      process.stdout.write(`local agent: running from ${agentDir}\n`);
      process.stdout.write(`try: npx cordon machines   (Ctrl-C stops everything)\n`);
      onSignal(async () => {
        stopping = true;
        agent?.kill('SIGTERM');
        await server.close();
      });
    });
}
