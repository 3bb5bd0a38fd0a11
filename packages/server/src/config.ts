import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * The server's one config schema. Each key is declared once with its default and help text and is
 * read, in increasing priority, from `<dataDir>/server.json`, `CORDON_<KEY>` environment variables
 * and command-line flags. Every bad key is reported at once, then the server refuses to start.
 */
export const ServerConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default('.cordon/server').describe('Directory for the database, keys and files'),
  host: z.string().min(1).default('127.0.0.1').describe('Address the API and console listen on'),
  port: z.coerce.number().int().min(0).max(65535).default(8080).describe('Port of the API and console (0 picks a free one)'),
  agentHost: z.string().min(1).default('0.0.0.0').describe('Address the agent gateway (TLS) listens on'),
  agentPort: z.coerce.number().int().min(0).max(65535).default(8443).describe('Port of the agent gateway (0 picks a free one)'),
  publicApiUrl: z.string().url().optional().describe('The API URL as users reach it (behind a proxy), for the download links GetPackageUri hands out (default: from the request)'),
  publicAgentUrl: z.string().url().optional().describe('Agent gateway URL printed for enrollment (default: https://<hostname>:<agentPort>)'),
  heartbeatSeconds: z.coerce.number().int().min(1).max(3600).default(30).describe('How often agents send a heartbeat'),
  actionExpirySeconds: z.coerce.number().int().min(10).max(90 * 86400).default(3 * 86400).describe('When a pending action times out'),
  enrollmentTokenHours: z.coerce.number().int().min(1).max(24 * 365).default(24).describe('How long an enrollment token is valid'),
  accessTokenSeconds: z.coerce.number().int().min(60).max(86400).default(3600).describe('Lifetime of OAuth2 access tokens'),
  bodyLimitBytes: z.coerce.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024).describe('Largest accepted request body'),
  rateLimitPerMinute: z.coerce.number().int().min(0).max(1_000_000).default(1200).describe('API requests per minute per token (or per address without one); 0 turns the limit off'),
  packageRetentionDays: z.coerce.number().int().min(1).max(3650).default(30).describe('How long investigation packages are kept (then their files are deleted)'),
  downloadUrlSeconds: z.coerce.number().int().min(10).max(86400).default(900).describe('Lifetime of package download URLs (GetPackageUri)'),
  consoleDir: z.string().min(1).optional().describe('Directory of the built web console (default: packages/console/dist)'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level'),
});
export type ServerConfig = z.infer<typeof ServerConfigSchema>;
export type ServerConfigInput = z.input<typeof ServerConfigSchema>;

const ENV_PREFIX = 'CORDON_';

function envKey(key: string): string {
  return ENV_PREFIX + key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

/** Every key with its environment variable, default and help text (for `--help` and the README). */
export function describeConfig(): { key: string; env: string; default: unknown; help: string }[] {
  return Object.entries(ServerConfigSchema.shape).map(([key, schema]) => ({
    key,
    env: envKey(key),
    default: schema instanceof z.ZodDefault ? (schema.def.defaultValue as unknown) : undefined,
    help: schema.description ?? '',
  }));
}

export class ConfigError extends Error {}

export function loadServerConfig(flags: ServerConfigInput = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const fromEnv: Record<string, string> = {};
  for (const key of Object.keys(ServerConfigSchema.shape)) {
    const v = env[envKey(key)];
    if (v !== undefined && v !== '') fromEnv[key] = v;
  }
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  const dataDir = resolve(String(defined.dataDir ?? fromEnv.dataDir ?? '.cordon/server'));
  const file = join(dataDir, 'server.json');
  let fromFile: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`${file} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const parsed = ServerConfigSchema.safeParse({ ...fromFile, ...fromEnv, ...defined, dataDir });
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const key = i.path.join('.');
      return `  ${key || '(config)'}: ${i.message}${key ? ` (flag --${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}, env ${envKey(key)})` : ''}`;
    });
    throw new ConfigError(`Invalid server configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
