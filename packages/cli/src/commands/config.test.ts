import type { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { agentConfig } from '@cordon/agent';
import { serverConfig } from '@cordon/server';
import { buildProgram } from '../main.js';

function command(path: string[]): Command {
  let cmd: Command = buildProgram();
  for (const name of path) cmd = cmd.commands.find((c) => c.name() === name)!;
  return cmd;
}

describe('config flags', () => {
  // `cordon up` runs the server and an agent with one environment: a name must mean one thing.
  it('server and agent never read the same environment variable', () => {
    const server = new Set(serverConfig.describe().flatMap((d) => [d.env, ...d.envAliases]));
    const shared = agentConfig.describe().flatMap((d) => [d.env, ...d.envAliases]).filter((e) => server.has(e));
    expect(shared).toEqual([]);
  });

  it.each([
    [['server'], serverConfig.keys, []],
    [['up'], serverConfig.keys, ['agentDataDir']],
    [['agent', 'enroll'], agentConfig.keys, ['server', 'token']],
    [['agent', 'run'], agentConfig.keys, []],
    [['agent', 'release'], agentConfig.keys, ['token']],
  ] as const)('every flag of `cordon %s` is a declared key, with its help text', (path, keys, others) => {
    const options = command([...path]).options.filter((o) => !(others as readonly string[]).includes(o.attributeName()));
    expect(options.length).toBeGreaterThan(0);
    for (const o of options) {
      const setting = (keys as Record<string, { help: string }>)[o.attributeName()];
      expect(setting, o.long).toBeDefined();
      expect(o.description).toContain(setting!.help);
    }
  });
});
