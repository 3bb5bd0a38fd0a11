import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Agent } from './agent.js';
import { loadAgentConfig } from './config.js';
import { writeState } from './enrollment-state.js';
import { NOT_ISOLATED, writeIsolation } from './modules/isolation/state.js';

/**
 * The agent's first lines on a device without nftables: nothing to say when it was never isolated,
 * and one plain warning (no stack trace) when its journal asks for isolation it cannot enforce.
 * PATH holds no nft, so nothing here can touch this machine's firewall.
 */
describe('agent start on a device without nft', () => {
  let dir: string;
  let path: string | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cordon-agent-start-'));
    const bin = join(dir, 'empty-bin');
    mkdirSync(bin);
    path = process.env.PATH;
    process.env.PATH = bin;
    writeState(join(dir, 'data'), { serverUrls: ['https://127.0.0.1:1'], machineId: 'a'.repeat(40), credential: 'x'.repeat(20), caCertPem: '-----BEGIN CERTIFICATE-----', signingPublicKeyPem: '-----BEGIN PUBLIC KEY-----', enrolledAt: '2026-01-01T00:00:00.000Z' });
  });
  afterEach(() => {
    process.env.PATH = path;
    rmSync(dir, { recursive: true, force: true });
  });

  /** Starts and stops an agent; answers what it logged about its modules. */
  async function startLogs(): Promise<Record<string, unknown>[]> {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    const config = loadAgentConfig({ dataDir: join(dir, 'data') }, {});
    const agent = new Agent(config, { logger: pino({ level: 'info' }, sink) });
    await agent.start();
    await agent.stop();
    return lines.filter((l) => /isolation|restore/.test(String(l.msg)) || l.part === 'isolation');
  }

  it('never isolated (no journal): says nothing about isolation', async () => {
    expect(await startLogs()).toEqual([]);
  });

  it('released earlier (journal says not isolated): says nothing about isolation', async () => {
    writeIsolation(join(dir, 'data'), { ...NOT_ISOLATED, releasedBy: 'action' });
    expect(await startLogs()).toEqual([]);
  });

  it('journal says isolated: one warning line naming what to install, no stack trace', async () => {
    writeIsolation(join(dir, 'data'), { ...NOT_ISOLATED, state: 'Isolated', type: 'Full', since: '2026-01-01T00:00:00.000Z', actionId: 'a1', serverAddresses: ['127.0.0.1'] });
    const logs = (await startLogs()).filter((l) => (l.level as number) >= 40 && /restore/.test(String(l.msg)));
    expect(logs).toEqual([expect.objectContaining({ level: 40, msg: 'could not restore isolation from the journal; will retry: nft is not installed (install the nftables package)' })]);
    expect(logs[0]).not.toHaveProperty('err');
  });
});
