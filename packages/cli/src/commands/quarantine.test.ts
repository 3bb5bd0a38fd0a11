import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent, currentPlatform, enroll, loadAgentConfig } from '@cordon/agent';
import { inventory, startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCordon } from '../testing/run-cordon.js';

/** `cordon quarantine file|list|restore` against a real server and a real agent, on a real file. */
describe('cordon quarantine (against a real server and agent)', () => {
  let h: Harness;
  let conn: string[];
  let dir: string;
  let agent: Agent;
  // By id: the agent reports this machine's real host name.
  let machine: string;
  beforeAll(async () => {
    h = await startHarness();
    // A real agent checks commands' expiry against the real time.
    h.clock.t = Date.now();
    const { apiUrl, agentUrl } = await h.server.listen();
    conn = ['--server', apiUrl, '--token', h.tokens.admin];
    dir = mkdtempSync(join(tmpdir(), 'cordon-cli-quarantine-'));
    const { token } = await h.server.services.enrollment.createToken('test');
    const agentDir = join(dir, 'agent');
    ({ machineId: machine } = await enroll(agentUrl, token, agentDir, inventory({ hostname: 'cli-quarantine' })));
    // This machine's firewall is never asked or touched.
    const platform = { ...currentPlatform(), firewall: { check: async () => ({ ok: true as const, version: 'test' }), apply: async () => {}, remove: async () => {}, active: async () => false } };
    agent = new Agent(loadAgentConfig({ dataDir: agentDir, reconnectMaxSeconds: 1, isolationWatchSeconds: 3600, scanRoots: [dir] }, {}), { logger: pino({ level: 'silent' }), platform });
    await agent.start();
    await vi.waitFor(async () => expect((await h.call('GET', '/api/machines')).body.value[0]?.capabilities.map((c: { name: string }) => c.name)).toContain('quarantine'), { timeout: 20_000 });
  });
  afterAll(async () => {
    await agent.stop();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cordon = (...args: string[]): Promise<string> => runCordon([...args, ...conn], { quiet: true });

  it('quarantines a file by hash and path, lists it, and restores it', async () => {
    mkdirSync(join(dir, 'drop'));
    const file = join(dir, 'drop', 'payload.sh');
    const bytes = `#!/bin/sh\necho ${randomBytes(8).toString('hex')}\n`;
    writeFileSync(file, bytes);
    chmodSync(file, 0o750);
    const sha256 = createHash('sha256').update(bytes).digest('hex');

    const out = await cordon('quarantine', 'file', machine, '--sha256', sha256, '--path', file, '--comment', 'dropper', '--wait');
    expect(out).toMatch(/StopAndQuarantineFile.*Succeeded/);
    const line = out.split('\n').find((l) => l.startsWith('quarantined '))!;
    const id = /restore with: cordon quarantine restore <machine> ([0-9a-f-]{36}) --comment/.exec(line)![1]!;
    expect(line).toBe(`quarantined ${file} (restore with: cordon quarantine restore <machine> ${id} --comment …)`);
    expect(existsSync(file)).toBe(false);

    const list = JSON.parse(await cordon('quarantine', 'list', machine, '--json')) as { quarantineId: string; filePath: string; state: string; sha256: string }[];
    expect(list).toMatchObject([{ quarantineId: id, filePath: file, state: 'Quarantined', sha256 }]);
    expect(await cordon('quarantine', 'list', machine)).toMatch(new RegExp(`${id}\\s*│ Quarantined\\s*│ ${file}`));

    expect(await cordon('quarantine', 'restore', machine, id, '--comment', 'false positive', '--wait')).toMatch(/RestoreQuarantinedFile.*Succeeded/);
    expect(readFileSync(file, 'utf8')).toBe(bytes);
    expect(statSync(file).mode & 0o777).toBe(0o750);
    expect(JSON.parse(await cordon('quarantine', 'list', machine, '--json'))).toMatchObject([{ quarantineId: id, state: 'Restored', restoredBy: 'admin' }]);
  }, 60_000);

  it('says why in one line when it cannot', async () => {
    await expect(cordon('quarantine', 'file', machine, '--comment', 'x')).rejects.toThrow('give --sha256 or --sha1');
    await expect(cordon('quarantine', 'file', machine, '--sha256', 'abc', '--comment', 'x')).rejects.toThrow('Sha256: must be a SHA-256: 64 hexadecimal characters');
    await expect(cordon('quarantine', 'restore', machine, '00000000-0000-4000-8000-000000000000', '--comment', 'x')).rejects.toThrow(/No quarantined file 00000000-0000-4000-8000-000000000000 on /);
    const missing = createHash('sha256').update(randomBytes(16)).digest('hex');
    await expect(cordon('quarantine', 'file', machine, '--sha256', missing, '--comment', 'x', '--wait')).rejects.toThrow(new RegExp(`ended Failed: No running program and no file with SHA-256 ${missing} was found`));
  }, 60_000);
});
