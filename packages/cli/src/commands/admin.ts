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
    .command('user')
    .description('console user accounts')
    .command('create')
    .description('create a user who signs in to the console; prints the generated password unless --password-stdin')
    .requiredOption('--username <name>', 'the user name')
    .requiredOption('--role <role>', ROLES.join('|'))
    .option('--password-stdin', 'read the password (12 characters or more) from standard input')
    .option('--data-dir <dir>', 'server data directory')
    .action(async (o: { username: string; role: string; passwordStdin?: boolean; dataDir?: string }) => {
      const r = role(o.role);
      let password: string | null = null;
      if (o.passwordStdin) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      }
      const u = await withStore(o.dataDir, (s) => s.services.users.createUser(o.username, password, r, 'cli'));
      process.stdout.write(o.passwordStdin ? `created user ${u.username}\n` : `password: ${u.password}\n`);
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
