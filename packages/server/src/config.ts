import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, defineConfig, setting, type ConfigFlags, type ConfigOf, type SettingDoc } from '@cordon/protocol/config';
import { LOG_FORMATS } from '@cordon/protocol/log-format';
import { MAX_CONTENT_BYTES, parseEd25519PublicKey } from '@cordon/protocol';

export { ConfigError };

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const port = () => z.number().int().min(0).max(65535);

/**
 * The server's one config declaration. Each key is declared once with its default and help text and is
 * read, in increasing priority, from `<dataDir>/server.json`, `CORDON_<KEY>` environment variables
 * (`heartbeatSeconds` -> `CORDON_HEARTBEAT_SECONDS`) and command-line flags. Every bad key is reported
 * at once, then the server refuses to start. The README's table is generated from it (`npm run gen:config`).
 */
export const serverConfig = defineConfig({
  name: 'server',
  envPrefix: 'CORDON_',
  keys: {
    dataDir: setting(z.string().min(1).transform((p) => resolve(p)), { default: '.cordon/server', inFile: false, help: 'Directory for the database, keys and files (server.json is read from it)' }),
    databaseUrl: setting(z.string().regex(/^postgres(ql)?:\/\/\S+$/, 'must be a postgres://user:password@host:port/database URL'), {
      help: 'PostgreSQL store shared by several server nodes (postgres://user:password@host:port/database); default: the embedded SQLite file cordon.db in the data directory',
      secret: true,
    }),
    host: setting(z.string().min(1), { default: '127.0.0.1', help: 'Address the API and console listen on (plain HTTP; put TLS in front when exposing it)' }),
    port: setting(port(), { default: 8080, help: 'Port of the API and console (0 picks a free one)' }),
    agentHost: setting(z.string().min(1), { default: '0.0.0.0', help: 'Address the agent gateway (TLS) listens on' }),
    agentPort: setting(port(), { default: 8443, help: 'Port of the agent gateway (0 picks a free one)' }),
    publicApiUrl: setting(z.string().url(), { help: 'The API URL as users reach it (behind a proxy), for every link the server builds, such as GetPackageUri downloads (default: the address it listens on, never the Host header a client sends)' }),
    trustProxy: setting(z.array(z.union([z.ipv4(), z.ipv6(), z.cidrv4(), z.cidrv6()])).max(64), {
      default: [],
      help: 'Addresses (or CIDRs) of the TLS proxies in front of the API whose X-Forwarded-For/-Proto/-Host are believed: the client address for limits and the audit log, Secure session cookies (env: comma-separated; default: none)',
    }),
    publicAgentUrl: setting(z.string().url(), { help: 'Agent gateway URL printed for enrollment (default: https://<hostname>:<agentPort>)' }),
    heartbeatSeconds: setting(z.number().int().min(1).max(3600), { default: 30, help: 'How often agents send a heartbeat; a device is Inactive after 3 missed' }),
    actionExpirySeconds: setting(z.number().int().min(10).max(90 * 86400), { default: 3 * 86400, help: 'When a pending action times out (default 3 days); it ends as TimeOut' }),
    enrollmentTokenHours: setting(z.number().int().min(1).max(24 * 365), { default: 24, help: 'How long an enrollment token is valid' }),
    accessTokenSeconds: setting(z.number().int().min(60).max(86400), { default: 3600, help: 'Lifetime of OAuth2 access tokens' }),
    bodyLimitBytes: setting(z.number().int().min(1024).max(64 * 1024 * 1024), { default: 1024 * 1024, help: 'Largest accepted request body' }),
    rateLimitPerMinute: setting(z.number().int().min(0).max(1_000_000), { default: 1200, help: 'API requests per minute per token (or per address for requests without a valid one: missing, made-up or revoked tokens); over it: 429 with Retry-After; 0 turns the limit off' }),
    ingestRateLimitPerMinute: setting(z.number().int().min(1).max(100_000_000), {
      default: 600_000,
      help: "Requests per minute per token to the ingest endpoints (POST /api/alerts, /api/alerts/falco, /api/alerts/batch: one alert or one batch each), counted apart from the API's limit so a burst from a sender (Falco on many hosts) is not refused; over it: 429 with Retry-After. Off with the API's limit (0)",
    }),
    packageRetentionDays: setting(z.number().int().min(1).max(3650), { default: 30, help: 'How long investigation packages are kept (files under <dataDir>/files/packages; then they are deleted)' }),
    maxPackageBytes: setting(z.number().int().min(1024 * 1024).max(Number.MAX_SAFE_INTEGER), {
      default: 4 * 1024 ** 3,
      help: 'Largest investigation package a device may upload (default 4 GiB; agents cap theirs at 1 GiB of collected data); a bigger one is refused (413) and deleted, and its action fails',
    }),
    diskReserveBytes: setting(z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), {
      default: 1024 ** 3,
      help: 'Free space kept on the disk holding the package files (by default the data directory\'s, with the database): an upload that would leave less is refused (507) and the agent retries later (default 1 GiB; 0 turns the reserve off)',
    }),
    downloadUrlSeconds: setting(z.number().int().min(10).max(86400), { default: 900, help: 'Lifetime of package download URLs (GetPackageUri)' }),
    auditCheckpointSeconds: setting(z.number().int().min(1).max(86400), { default: 60, help: 'How often the audit chain\'s head is signed into <dataDir>/audit/checkpoints.jsonl (and at shutdown); records since the last checkpoint are protected by the chain alone' }),
    libraryRequireSignature: setting(z.boolean(), {
      default: false,
      help: 'Live-response library: refuse an upload without a valid Signature (base64 Ed25519 signature of the file) by one of libraryTrustedKeys (a Signature that is sent is always checked)',
    }),
    libraryTrustedKeys: setting(
      z.array(
        z.string().superRefine((text, ctx) => {
          try {
            parseEd25519PublicKey(text);
          } catch (e) {
            ctx.addIssue({ code: 'custom', message: (e as Error).message });
          }
        }),
      ).max(64),
      { default: [], help: 'Ed25519 public keys (PEM, or base64 SPKI DER) whose signatures the live-response library accepts (env: comma-separated; default: none)' },
    ),
    libraryMaxFileBytes: setting(z.number().int().min(1).max(MAX_CONTENT_BYTES), {
      default: MAX_CONTENT_BYTES,
      help: `Largest live-response library file (default and most: ${MAX_CONTENT_BYTES / 1024 ** 2} MiB); a bigger upload is refused (413) and nothing is kept`,
    }),
    liveResponseQueueSeconds: setting(z.number().int().min(10).max(86400), { default: 600, help: 'How long a live-response session to an offline device waits for it (default 10 minutes); then it ends as TimeOut' }),
    liveResponseIdleSeconds: setting(z.number().int().min(60).max(86400), { default: 1800, help: 'A live-response session with no command for this long ends (default 30 minutes, as MDE)' }),
    consoleDir: setting(z.string().min(1), { help: 'Directory of the built web console (default: packages/console/dist)' }),
    logLevel: setting(z.enum(LOG_LEVELS), { default: 'info', help: 'Log level; logs go to stderr (pino)' }),
    logFormat: setting(z.enum(LOG_FORMATS), { default: 'auto', help: 'How logs are written: pretty (one readable line each), json (one JSON object per line), or auto: pretty on a terminal, json otherwise' }),
  },
});

export const ServerConfigSchema = serverConfig.schema;
export type ServerConfig = ConfigOf<typeof serverConfig.keys>;
/** Flags and programmatic overrides: typed values, or text as a command line gives it. */
export type ServerConfigInput = ConfigFlags<typeof serverConfig.keys>;

/** Every key with its environment variable, default and help text (for `--help` and the README). */
export function describeConfig(): SettingDoc[] {
  return serverConfig.describe();
}

/** The server's config from `<dataDir>/server.json`, the environment and `flags`; throws a ConfigError listing every problem. */
export function loadServerConfig(flags: ServerConfigInput = {}, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return serverConfig.load({ flags, env, file: (early) => join(resolve(String(early.dataDir)), 'server.json') });
}
