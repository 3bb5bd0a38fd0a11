import { pino } from 'pino';
import { Agent, currentPlatform, loadAgentConfig, type AgentConfigInput } from '@cordon/agent';

type Platform = ReturnType<typeof currentPlatform>;

/**
 * The platform a server test's real agent runs on: this machine's, except that its firewall is
 * never asked or touched (isolation is tested in network namespaces, by the e2e tests).
 */
export const hostSafePlatform: Platform = {
  ...currentPlatform(),
  firewall: { check: async () => ({ ok: true as const, version: 'test' }), apply: async () => {}, remove: async () => {}, active: async () => false },
  indicatorFirewall: { apply: async () => {}, remove: async () => {}, active: async () => false, counts: async () => new Map<string, number>() },
  releasePrograms: async () => {},
};

/** A real agent (in this process) for a server test: silent, quick to reconnect, no isolation watch; `config` adds to that. */
export function testAgent(dataDir: string, config: AgentConfigInput = {}, platform: Platform = hostSafePlatform): Agent {
  return new Agent(loadAgentConfig({ dataDir, reconnectMaxSeconds: 1, isolationWatchSeconds: 3600, ...config }, {}), { logger: pino({ level: 'silent' }), platform });
}
