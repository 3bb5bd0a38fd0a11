import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { CordonClient } from './api-client.js';

/** The CLI's own directory (made by `cordon up`, in the directory it ran in). */
export const CONFIG_DIR = resolve('.cordon');
/** Where `cordon up` leaves the local server's URL and an admin token for the CLI (mode 0600). */
export const QUICKSTART_FILE = resolve(CONFIG_DIR, 'cli.json');

export function writeQuickstart(server: string, token: string): void {
  mkdirSync(dirname(QUICKSTART_FILE), { recursive: true, mode: 0o700 });
  writeFileSync(QUICKSTART_FILE, JSON.stringify({ server, token }, null, 2), { mode: 0o600 });
  chmodSync(QUICKSTART_FILE, 0o600);
}

export function readQuickstart(): { server?: string; token?: string } {
  if (!existsSync(QUICKSTART_FILE)) return {};
  try {
    return JSON.parse(readFileSync(QUICKSTART_FILE, 'utf8')) as { server?: string; token?: string };
  } catch {
    return {};
  }
}

/** A failure to say in one sentence (no stack trace), and the exit code it ends with. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** Server and token from --server/--token, else CORDON_SERVER/CORDON_TOKEN, else the quick-start file. */
export function clientFrom(opts: { server?: string; token?: string }): CordonClient {
  const qs = readQuickstart();
  const server = opts.server ?? process.env.CORDON_SERVER ?? qs.server;
  const token = opts.token ?? process.env.CORDON_TOKEN ?? qs.token;
  if (!server) throw new CliError('no server: pass --server URL or set CORDON_SERVER');
  if (!token) throw new CliError('no token: pass --token T or set CORDON_TOKEN');
  try {
    new URL(server);
  } catch {
    throw new CliError(`'${server}' is not a URL; use e.g. http://127.0.0.1:8080`);
  }
  return new CordonClient(server, token);
}
