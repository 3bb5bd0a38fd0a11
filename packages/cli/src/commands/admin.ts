import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { pino } from 'pino';
import { createCordonServer, isRole, loadServerConfig, RANKED_ROLES, ROLES, VERIFIED_TOKEN_MS } from '@cordon/server';
import { CliError } from '../context.js';
import { print, since } from '../output.js';

/** Where the server keeps its state: its data directory and, with several nodes, its PostgreSQL store. */
export interface StoreFlags {
  dataDir?: string;
  databaseUrl?: string;
}

export const DATABASE_URL_HELP = "the server's PostgreSQL store, when it runs on one (env CORDON_DATABASE_URL)";

/** `--data-dir` and `--database-url` on a command that opens the server's store directly. */
export function storeOptions(cmd: Command, dataDirHelp = 'server data directory'): Command {
  return cmd.option('--data-dir <dir>', dataDirHelp).option('--database-url <url>', DATABASE_URL_HELP);
}

/** Opens the server's store directly (the server may be running: SQLite WAL and PostgreSQL allow both). */
export async function withStore<T>(flags: StoreFlags, fn: (s: Awaited<ReturnType<typeof createCordonServer>>) => Promise<T>): Promise<T> {
  const config = loadServerConfig({ dataDir: flags.dataDir, databaseUrl: flags.databaseUrl });
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

/** Who revokes from the CLI on the data directory: the local account, as the audit log's actor. */
function cliActor(): { id: string; name: string } {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (some containers): the actor stays 'cli:unknown'.
  }
  return { id: 'cli', name: `cli:${user}` };
}

interface ListOptions extends StoreFlags {
  json?: boolean;
  top: string;
}

interface RevokeOptions extends StoreFlags {
  json?: boolean;
  comment: string;
}

/** `<noun> list` on the server's data directory. */
function listCommand(parent: Command, what: string): Command {
  return storeOptions(parent
    .command('list')
    .description(`list ${what}, never their secrets`))
    .option('--top <n>', 'at most this many', '100')
    .option('--json', 'print JSON');
}

/** `<noun> <verb> <id> --comment C` on the server's data directory. */
function revokeCommand(parent: Command, verb: string, arg: string, what: string): Command {
  return storeOptions(parent
    .command(verb)
    .description(what))
    .argument(arg)
    .requiredOption('--comment <text>', 'why (kept in the audit log)')
    .option('--json', 'print JSON');
}

const revokedText = (at: string | null, by: string | null) => (at ? `${at} by ${by ?? '?'}` : null);
const usedText = (at: string | null) => (at ? since(at) : 'never');

export function registerAdminCommands(program: Command): void {
  const token = program.command('token').description('API tokens');
  token
    .command('create')
    .description('create an API token and print it')
    .requiredOption('--role <role>', ROLES.join('|'))
    .option('--name <name>', 'who or what the token is for')
    .option('--data-dir <dir>', 'server data directory')
    .option('--database-url <url>', DATABASE_URL_HELP)
    .action(async (o: { role: string; name?: string; dataDir?: string; databaseUrl?: string }) => {
      const r = role(o.role);
      const token = await withStore(o, (s) => s.services.auth.createToken(r, o.name ?? `${r} token`, 'cli'));
      process.stdout.write(`${token}\n`);
    });
  listCommand(token, 'API tokens and live app access tokens').action(async (o: ListOptions) => {
    const tokens = await withStore(o, (s) => s.services.auth.listTokens(Number(o.top), 0));
    print(!!o.json, tokens, () => ({
      head: ['id', 'name', 'role', 'kind', 'created', 'by', 'last used', 'revoked'],
      rows: tokens.map((t) => [t.id, t.name, t.role, t.kind, t.createdAt, t.createdBy, usedText(t.lastUsedAt), revokedText(t.revokedAt, t.revokedBy)]),
    }));
  });
  revokeCommand(token, 'revoke', '<id>', 'revoke an API token or an access token (it fails as an unknown token from then on)').action(async (id: string, o: RevokeOptions) => {
    const t = await withStore(o, (s) => s.services.auth.revokeToken(cliActor(), id, o.comment));
    await untilServersForget();
    print(!!o.json, t, () => ({ head: ['revoked', 'name', 'role', 'at'], rows: [[t.id, t.name, t.role, t.revokedAt]] }));
  });

  const app = program.command('app').description('app registrations (OAuth2 client credentials)');
  app
    .command('create')
    .description('register an app and print its client_id and client_secret')
    .requiredOption('--role <role>', ROLES.join('|'))
    .requiredOption('--name <name>', 'the app name')
    .option('--data-dir <dir>', 'server data directory')
    .option('--database-url <url>', DATABASE_URL_HELP)
    .action(async (o: { role: string; name: string; dataDir?: string; databaseUrl?: string }) => {
      const r = role(o.role);
      const app = await withStore(o, (s) => s.services.auth.createApp(r, o.name, 'cli'));
      process.stdout.write(`client_id: ${app.clientId}\nclient_secret: ${app.clientSecret}\n`);
    });
  listCommand(app, 'registered apps').action(async (o: ListOptions) => {
    const apps = await withStore(o, (s) => s.services.auth.listApps(Number(o.top), 0));
    print(!!o.json, apps, () => ({
      head: ['client_id', 'name', 'role', 'created', 'by', 'last used', 'revoked'],
      rows: apps.map((a) => [a.clientId, a.name, a.role, a.createdAt, a.createdBy, usedText(a.lastUsedAt), revokedText(a.revokedAt, a.revokedBy)]),
    }));
  });
  revokeCommand(app, 'revoke', '<clientId>', 'revoke an app: its secret is refused and its live access tokens stop working').action(async (clientId: string, o: RevokeOptions) => {
    const a = await withStore(o, (s) => s.services.auth.revokeApp(cliActor(), clientId, o.comment));
    await untilServersForget();
    print(!!o.json, a, () => ({ head: ['revoked', 'name', 'role', 'at'], rows: [[a.clientId, a.name, a.role, a.revokedAt]] }));
  });

  const user = program.command('user').description('console user accounts');
  user
    .command('create')
    .description('create a user who signs in to the console; prints the generated password unless --password-stdin')
    .requiredOption('--username <name>', 'the user name')
    .requiredOption('--role <role>', RANKED_ROLES.join('|'))
    .option('--password-stdin', 'read the password (12 characters or more) from standard input')
    .option('--data-dir <dir>', 'server data directory')
    .option('--database-url <url>', DATABASE_URL_HELP)
    .action(async (o: { username: string; role: string; passwordStdin?: boolean; dataDir?: string; databaseUrl?: string }) => {
      const r = role(o.role);
      let password: string | null = null;
      if (o.passwordStdin) {
        const chunks: Buffer[] = [];
        for await (const c of process.stdin) chunks.push(c as Buffer);
        password = Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
      }
      const u = await withStore(o, (s) => s.services.users.createUser(o.username, password, r, 'cli'));
      process.stdout.write(o.passwordStdin ? `created user ${u.username}\n` : `password: ${u.password}\n`);
    });
  listCommand(user, 'console users').action(async (o: ListOptions) => {
    const users = await withStore(o, (s) => s.services.users.list(Number(o.top), 0));
    print(!!o.json, users, () => ({
      head: ['username', 'role', 'created', 'by', 'last used', 'disabled'],
      rows: users.map((u) => [u.username, u.role, u.createdAt, u.createdBy, usedText(u.lastUsedAt), revokedText(u.disabledAt, u.disabledBy)]),
    }));
  });
  revokeCommand(user, 'disable', '<username>', 'disable a console user: their sessions end at once and sign-in is refused').action(async (username: string, o: RevokeOptions) => {
    const u = await withStore(o, (s) => s.services.users.disable(cliActor(), username, o.comment));
    print(!!o.json, u, () => ({ head: ['disabled', 'role', 'at'], rows: [[u.username, u.role, u.disabledAt]] }));
  });

  const enrollment = program.command('enrollment-token').description('agent enrollment tokens');
  enrollment
    .command('create')
    .description('create an enrollment token and print it')
    .option('--data-dir <dir>', 'server data directory')
    .option('--database-url <url>', DATABASE_URL_HELP)
    .action(async (o: { dataDir?: string; databaseUrl?: string }) => {
      const t = await withStore(o, (s) => s.services.enrollment.createToken('cli'));
      process.stdout.write(`${t.token}\n`);
    });
  listCommand(enrollment, 'enrollment tokens').action(async (o: ListOptions) => {
    const tokens = await withStore(o, (s) => s.services.enrollment.listTokens(Number(o.top), 0));
    print(!!o.json, tokens, () => ({
      head: ['id', 'created', 'by', 'expires', 'last used', 'revoked'],
      rows: tokens.map((t) => [t.id, t.createdAt, t.createdBy, t.expiresAt, usedText(t.lastUsedAt), revokedText(t.revokedAt, t.revokedBy)]),
    }));
  });
  revokeCommand(enrollment, 'revoke', '<id>', 'revoke an enrollment token: no device enrolls with it from then on').action(async (id: string, o: RevokeOptions) => {
    const t = await withStore(o, (s) => s.services.enrollment.revokeToken(cliActor(), id, o.comment));
    print(!!o.json, t, () => ({ head: ['revoked', 'created by', 'at'], rows: [[t.id, t.createdBy, t.revokedAt]] }));
  });
}

/**
 * A running server believes a token it has verified for up to VERIFIED_TOKEN_MS without asking the
 * store again (revocations through the API reach it at once; this one, made beside it, does not).
 * The command returns once that has passed, so a script that revokes and goes on can count on it.
 */
async function untilServersForget(): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, VERIFIED_TOKEN_MS));
}
