import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, readmeSection, renderConfigTable } from '@cordon/protocol/config';
import { agentConfig, loadAgentConfig } from './config.js';

const dir = mkdtempSync(join(tmpdir(), 'cordon-agent-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('agent config', () => {
  it('keeps the defaults it always had', () => {
    expect(loadAgentConfig({ dataDir: join(dir, 'empty') }, {})).toEqual({
      dataDir: join(dir, 'empty'),
      tags: [],
      reconnectMaxSeconds: 60,
      returnHomeSeconds: 120,
      credentialRetrySeconds: 900,
      actionDelayMs: 0,
      isolationConfirmSeconds: 30,
      isolationWatchSeconds: 5,
      scanCpuPercent: 50,
      scanMaxFileMb: 1024,
      scanExclude: [],
      scanNetworkMounts: false,
      scanClamav: 'auto',
      logLevel: 'info',
      logFormat: 'auto',
    });
  });

  // Every CORDON_AGENT_* name e2e tests, benchmarks and the README use today.
  it.each([
    ['CORDON_AGENT_TAGS', 'pci, kiosk,', 'tags', ['pci', 'kiosk']],
    ['CORDON_AGENT_LOG_LEVEL', 'debug', 'logLevel', 'debug'],
    ['CORDON_AGENT_LOG_FORMAT', 'json', 'logFormat', 'json'],
    ['CORDON_AGENT_HEARTBEAT_SECONDS', '5', 'heartbeatSeconds', 5],
    ['CORDON_AGENT_ACTION_DELAY_MS', '1500', 'actionDelayMs', 1500],
    ['CORDON_AGENT_RECONNECT_MAX_SECONDS', '2', 'reconnectMaxSeconds', 2],
    ['CORDON_AGENT_RETURN_HOME_SECONDS', '0.5', 'returnHomeSeconds', 0.5],
    ['CORDON_AGENT_ISOLATION_CONFIRM_SECONDS', '3', 'isolationConfirmSeconds', 3],
    ['CORDON_AGENT_ISOLATION_PROBE', '10.0.0.9:7000', 'isolationProbe', '10.0.0.9:7000'],
    ['CORDON_AGENT_SCAN_ROOTS', '/srv/a,/srv/b', 'scanRoots', ['/srv/a', '/srv/b']],
    ['CORDON_AGENT_SCAN_CPU_PERCENT', '25', 'scanCpuPercent', 25],
    ['CORDON_AGENT_ISOLATION_WATCH_SECONDS', '0.5', 'isolationWatchSeconds', 0.5],
  ] as const)('%s=%s sets %s', (name, value, key, expected) => {
    expect(loadAgentConfig({ dataDir: join(dir, 'empty') }, { [name]: value })[key]).toEqual(expected);
  });

  it('finds agent.json through CORDON_AGENT_DATA_DIR; the environment overrides it, flags override both', () => {
    const dataDir = join(dir, 'withfile');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'agent.json'), JSON.stringify({ tags: ['pci'], logLevel: 'debug', reconnectMaxSeconds: 9 }));
    expect(loadAgentConfig({}, { CORDON_AGENT_DATA_DIR: dataDir })).toMatchObject({ dataDir, tags: ['pci'], logLevel: 'debug', reconnectMaxSeconds: 9 });
    expect(loadAgentConfig({ logLevel: 'warn' }, { CORDON_AGENT_DATA_DIR: dataDir, CORDON_AGENT_LOG_LEVEL: 'trace', CORDON_AGENT_TAGS: 'lab' })).toMatchObject({ tags: ['lab'], logLevel: 'warn', reconnectMaxSeconds: 9 });
  });

  it('lists every bad key at once', () => {
    const dataDir = join(dir, 'bad');
    mkdirSync(dataDir);
    writeFileSync(join(dataDir, 'agent.json'), JSON.stringify({ tags: 'pci', color: 'red' }));
    let error: unknown;
    try {
      loadAgentConfig({ dataDir }, { CORDON_AGENT_ISOLATION_PROBE: 'nowhere', CORDON_AGENT_ISOLATION_WATCH_SECONDS: '0' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.map((p) => `${p.key} ${p.source.kind}`);
    // A string in the file is text like any other: "pci" is the list ["pci"].
    expect(problems).toEqual(['isolationProbe env', 'isolationWatchSeconds env', 'color file']);
    expect((error as Error).message).toContain('isolationProbe: must be host:port (env CORDON_AGENT_ISOLATION_PROBE="nowhere")');
  });

  it("matches the README's configuration table (npm run gen:config)", () => {
    const section = readmeSection(readFileSync(new URL('../../../README.md', import.meta.url), 'utf8'), 'agent').text;
    expect(section).toBe(renderConfigTable(agentConfig));
    for (const d of agentConfig.describe()) expect(section).toContain(`| \`${d.key}\` | \`${d.env}\``);
  });
});
