import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { z } from 'zod';

/**
 * The agent's config: `<dataDir>/agent.json`, then `CORDON_AGENT_<KEY>` variables, then flags.
 * Device-side tags live here, so the device itself can say what it is ("pci", "kiosk").
 */
export const AgentConfigSchema = z.strictObject({
  dataDir: z.string().min(1).default('.cordon/agent').describe('Directory for enrollment, journal and logs'),
  tags: z.array(z.string().trim().min(1).max(128)).max(64).default([]).describe('Device-side tags reported to the server'),
  heartbeatSeconds: z.coerce.number().int().min(1).max(3600).optional().describe('Override the heartbeat interval the server asks for'),
  reconnectMaxSeconds: z.coerce.number().int().min(1).max(3600).default(60).describe('Longest wait between reconnection attempts'),
  actionDelayMs: z.coerce.number().int().min(0).max(600_000).default(0).describe('Fault injection for tests: wait this long before each action runs (0 = off)'),
  isolationConfirmSeconds: z.coerce.number().int().min(1).max(90).default(30).describe('After isolating, the server must answer over the isolated network within this many seconds, or the rules are rolled back'),
  isolationProbe: z
    .string()
    .regex(/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'must be host:port')
    .optional()
    .describe('A host:port that isolation must block; if it is still reachable after isolating, the rules are rolled back and the action fails'),
  isolationWatchSeconds: z.coerce.number().min(0.2).max(3600).default(5).describe('How often the agent checks that isolation rules are still in force (re-applies them after a flush)'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('Log level'),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

export function loadAgentConfig(flags: Partial<Record<keyof AgentConfig, unknown>> = {}, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const defined = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined));
  const dataDir = resolve(String(defined.dataDir ?? env.CORDON_AGENT_DATA_DIR ?? '.cordon/agent'));
  const file = join(dataDir, 'agent.json');
  let fromFile: Record<string, unknown> = {};
  if (existsSync(file)) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new Error(`${file} is not valid JSON: ${(e as Error).message}`);
    }
  }
  const fromEnv: Record<string, unknown> = {};
  if (env.CORDON_AGENT_TAGS) fromEnv.tags = env.CORDON_AGENT_TAGS.split(',').map((t) => t.trim()).filter(Boolean);
  if (env.CORDON_AGENT_LOG_LEVEL) fromEnv.logLevel = env.CORDON_AGENT_LOG_LEVEL;
  if (env.CORDON_AGENT_HEARTBEAT_SECONDS) fromEnv.heartbeatSeconds = env.CORDON_AGENT_HEARTBEAT_SECONDS;
  if (env.CORDON_AGENT_ACTION_DELAY_MS) fromEnv.actionDelayMs = env.CORDON_AGENT_ACTION_DELAY_MS;
  if (env.CORDON_AGENT_RECONNECT_MAX_SECONDS) fromEnv.reconnectMaxSeconds = env.CORDON_AGENT_RECONNECT_MAX_SECONDS;
  if (env.CORDON_AGENT_ISOLATION_CONFIRM_SECONDS) fromEnv.isolationConfirmSeconds = env.CORDON_AGENT_ISOLATION_CONFIRM_SECONDS;
  if (env.CORDON_AGENT_ISOLATION_PROBE) fromEnv.isolationProbe = env.CORDON_AGENT_ISOLATION_PROBE;
  if (env.CORDON_AGENT_ISOLATION_WATCH_SECONDS) fromEnv.isolationWatchSeconds = env.CORDON_AGENT_ISOLATION_WATCH_SECONDS;
  const parsed = AgentConfigSchema.safeParse({ ...fromFile, ...fromEnv, ...defined, dataDir });
  if (!parsed.success) {
    throw new Error(`Invalid agent configuration:\n${parsed.error.issues.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`).join('\n')}`);
  }
  return parsed.data;
}
