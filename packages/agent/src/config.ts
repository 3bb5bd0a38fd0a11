import { join, resolve } from 'node:path';
import { z } from 'zod';
import { ConfigError, defineConfig, setting, type ConfigFlags, type ConfigOf } from '@cordon/protocol/config';
import { LOG_FORMATS } from '@cordon/protocol/log-format';

export { ConfigError };

const absolutePath = z.string().startsWith('/', 'must be an absolute path');
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * The agent's config declaration: `<dataDir>/agent.json`, then `CORDON_AGENT_<KEY>` variables
 * (`reconnectMaxSeconds` -> `CORDON_AGENT_RECONNECT_MAX_SECONDS`; lists comma-separated), then flags.
 * Device-side tags live here, so the device itself can say what it is ("pci", "kiosk").
 */
export const agentConfig = defineConfig({
  name: 'agent',
  envPrefix: 'CORDON_AGENT_',
  keys: {
    dataDir: setting(z.string().min(1).transform((p) => resolve(p)), { default: '.cordon/agent', inFile: false, help: 'Directory for enrollment, journal and logs (agent.json is read from it)' }),
    tags: setting(z.array(z.string().trim().min(1).max(128)).max(64), { default: [], help: 'Device-side tags reported to the server, e.g. ["pci", "kiosk"] (env: comma-separated)' }),
    heartbeatSeconds: setting(z.number().int().min(1).max(3600), { help: 'Override the heartbeat interval the server asks for' }),
    reconnectMaxSeconds: setting(z.number().int().min(1).max(3600), { default: 60, help: 'Longest wait between reconnection attempts' }),
    returnHomeSeconds: setting(z.number().min(0.2).max(86_400), {
      default: 120,
      help: 'Away from its home node (several server URLs), the agent asks home again after a random wait between a quarter of this and this, and moves back only if home answers',
    }),
    credentialRetrySeconds: setting(z.number().int().min(1).max(86_400), { default: 900, help: "Wait between connection attempts once the server refused this device's credential (revoked: re-enroll the agent)" }),
    actionDelayMs: setting(z.number().int().min(0).max(600_000), { default: 0, help: 'Fault injection for tests: wait this long before each action runs (0 = off)' }),
    isolationConfirmSeconds: setting(z.number().int().min(1).max(90), { default: 30, help: 'After isolating, the server must answer over the isolated network within this many seconds, or the rules are rolled back' }),
    isolationProbe: setting(z.string().regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port'), {
      help: 'A host:port that isolation must block; if it is still reachable after isolating, the rules are rolled back and the action fails',
    }),
    isolationWatchSeconds: setting(z.number().min(0.2).max(3600), { default: 5, help: 'How often the agent checks that isolation rules are still in force (re-applies them after a flush)' }),
    packageTempDirs: setting(z.array(absolutePath).max(64), { help: "Directories an investigation package lists as temp directories, instead of the system's and each user's (/tmp, /var/tmp, /dev/shm, /run/user/<uid>, ~/tmp)" }),
    packageProgramDirs: setting(z.array(absolutePath).max(64), { help: 'Directories an investigation package walks for recently changed executables, instead of the usual ones (/usr/bin, /opt, /tmp, /root, /home, …)' }),
    scanCpuPercent: setting(z.number().int().min(5).max(100), { default: 50, help: "Share of the device's CPU (all cores together, percent) an antivirus scan may use when the scan does not say" }),
    scanMaxFileMb: setting(z.number().int().min(1).max(65_536), { default: 1024, help: 'Files larger than this are listed as skipped by scans, never silently left out' }),
    liveCronRoots: setting(z.array(absolutePath).max(64), { help: 'Crontab files and directories live response reads and `remediate cron` may change, instead of /etc/crontab, /etc/cron.d, /var/spool/cron/crontabs and /var/spool/cron' }),
    scanRoots: setting(z.array(absolutePath).max(256), { help: "Directories (or files) Quick and Full scans read instead of the usual places and file systems (tests point scans at their own trees)" }),
    scanExclude: setting(z.array(absolutePath).max(256), { default: [], help: 'Paths scans never read, with everything below them' }),
    scanNetworkMounts: setting(z.boolean(), { default: false, help: 'Full scans also read network file systems (NFS, SMB, sshfs, …)' }),
    scanClamav: setting(z.enum(['auto', 'off']), { default: 'auto', help: 'ClamAV as an extra scan engine: auto uses clamd (or clamscan) when installed with a signature database; off never does' }),
    scanClamavDatabaseDir: setting(absolutePath, { help: "clamscan's signature database directory (default: clamd.conf's DatabaseDirectory, else /var/lib/clamav)" }),
    scanClamdSocket: setting(absolutePath, { help: "clamd's UNIX socket (default: clamd.conf's LocalSocket, else /run/clamav/clamd.ctl)" }),
    logLevel: setting(z.enum(LOG_LEVELS), { default: 'info', help: 'Log level' }),
    logFormat: setting(z.enum(LOG_FORMATS), { default: 'auto', help: 'How logs are written to stderr: pretty (one readable line each), json (one JSON object per line), or auto: pretty on a terminal, json otherwise' }),
  },
});

export const AgentConfigSchema = agentConfig.schema;
export type AgentConfig = ConfigOf<typeof agentConfig.keys>;
export type AgentConfigInput = ConfigFlags<typeof agentConfig.keys>;

/** The agent's config from `<dataDir>/agent.json`, the environment and `flags`; throws a ConfigError listing every problem. */
export function loadAgentConfig(flags: AgentConfigInput = {}, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  return agentConfig.load({ flags, env, file: (early) => join(resolve(String(early.dataDir)), 'agent.json') });
}
