import type { Command } from 'commander';
import { pino } from 'pino';
import { createCordonServer, isRole, loadServerConfig, ROLES } from '@cordon/server';
import { CliError } from '../context.js';

/** Opens the server's store directly (the server may be running: SQLite WAL allows both). */
export async function withStore<T>(dataDir: string | undefined, fn: (s: Awaited<ReturnType<typeof createCordonServer>>) => Promise<T>): Promise<T> {
  const config = loadServerConfig({ dataDir });
  const server = await createCordonServer(config, { logger: pino({ level: 'silent' }), bootstrapAdmin: false });
  try {
    return await fn(server);
  } finally {
    await server.close();
  }
}

function role(value: string): (typeof ROLES)[number] {
  if (!isRole(value)) throw new CliError(`--role must be one of ${ROLES.join(', ')}`);
  return value;
}

export function registerAdminCommands(program: Command): void {
  program
    .command('token')
    .description('API tokens')
    .command('create')
    .description('create an API token and print it')
    .requiredOption('--role <role>', ROLES.join('|'))
    .option('--name <name>', 'who or what the token is for')
    .option('--data-dir <dir>', 'server data directory')
    .action(async (o: { role: string; name?: string; dataDir?: string }) => {
      const r = role(o.role);
      const token = await withStore(o.dataDir, (s) => s.services.auth.createToken(r, o.name ?? `${r} token`, 'cli'));
      process.stdout.write(`${token}\n`);
    });

  program
    .command('app')
    .description('app registrations (OAuth2 client credentials)')
    .command('create')
    .description('register an app and print its client_id and client_secret')
    .requiredOption('--role <role>', ROLES.join('|'))
    .requiredOption('--name <name>', 'the app name')
    .option('--data-dir <dir>', 'server data directory')
    .action(async (o: { role: string; name: string; dataDir?: string }) => {
      const r = role(o.role);
      const app = await withStore(o.dataDir, (s) => s.services.auth.createApp(r, o.name, 'cli'));
      process.stdout.write(`client_id: ${app.clientId}\nclient_secret: ${app.clientSecret}\n`);
    });

  program
    .command('enrollment-token')
    .description('agent enrollment tokens')
    .command('create')
    .description('create an enrollment token and print it')
    .option('--data-dir <dir>', 'server data directory')
    .action(async (o: { dataDir?: string }) => {
      const t = await withStore(o.dataDir, (s) => s.services.enrollment.createToken('cli'));
      process.stdout.write(`${t.token}\n`);
    });
}
