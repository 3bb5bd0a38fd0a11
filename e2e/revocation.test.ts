/**
 * Device credential revocation end to end with real processes: one `cordon server`, one
 * `cordon agent run`, real TLS and SQLite. Revoking the credential with `cordon machine revoke`
 * disconnects the running agent within a second; the agent says it must be enrolled again and does
 * not reconnect in a loop; a restarted agent is refused. Build first: `node scripts/build.mjs`.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CordonClient } from '@cordon/cli/client';
import { cleanup, cordon, CordonProcess, freePort, sleep, tempDir, until } from './helpers.js';

// Reconnects would come every 2 s at most if the agent treated a revocation as a network fault.
const AGENT_ENV = { CORDON_AGENT_RECONNECT_MAX_SECONDS: '2', CORDON_AGENT_LOG_LEVEL: 'info' };

let serverDir: string;
let agentDir: string;
let server: CordonProcess | undefined;
let agent: CordonProcess | undefined;
let api: CordonClient;
let env: Record<string, string>;
let machineId: string;

const revokedLines = (p: CordonProcess) => p.stderr.split('\n').filter((l) => l.includes('"state":"credentialRevoked"'));
const connects = (p: CordonProcess) => p.stderr.split('\n').filter((l) => l.includes('"msg":"connected to the server"')).length;

beforeAll(async () => {
  serverDir = tempDir('revoke-server');
  agentDir = tempDir('revoke-agent');
  const port = await freePort();
  const agentPort = await freePort();
  server = new CordonProcess(['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_HEARTBEAT_SECONDS: '2' });
  const adminToken = await server.line(/^admin token: (\S+)$/m);
  api = new CordonClient(`http://127.0.0.1:${port}`, adminToken);
  env = { CORDON_SERVER: `http://127.0.0.1:${port}`, CORDON_TOKEN: adminToken };
  const token = (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim();
  const enrolled = await cordon(['agent', 'enroll', '--server', `https://127.0.0.1:${agentPort}`, '--token', token, '--data-dir', agentDir]);
  expect(enrolled.code, enrolled.stderr).toBe(0);
  machineId = JSON.parse(readFileSync(join(agentDir, 'enrollment.json'), 'utf8')).machineId;
  agent = new CordonProcess(['agent', 'run', '--data-dir', agentDir], AGENT_ENV);
  await until('agent online', async () => (await api.machine(machineId)).isConnected);
}, 120_000);

afterAll(async () => {
  await Promise.all([agent?.kill('SIGKILL'), server?.kill('SIGKILL')]);
  cleanup([serverDir, agentDir]);
});

describe('device credential revocation (real processes)', () => {
  it('disconnects the running agent within a second; it says to re-enroll and does not reconnect in a loop', async () => {
    expect(connects(agent!)).toBe(1);
    const r = await cordon(['machine', 'revoke', machineId, '--comment', 'laptop stolen', '--json'], env);
    const answered = Date.now();
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ id: machineId, credentialRevokedAt: expect.any(String), credentialRevokedBy: 'admin' });
    // The agent hears it: the close reached it within a second of the answer.
    await until('the agent to log the revocation', async () => revokedLines(agent!).length > 0, 5000);
    expect(Date.now() - answered).toBeLessThan(1000);
    expect(JSON.parse(revokedLines(agent!)[0]!)).toMatchObject({ level: 50, code: 4401, msg: expect.stringMatching(/credential revoked.*Re-enroll this agent/) });
    expect((await api.machine(machineId)).isConnected).toBe(false);

    // Over three reconnect intervals, nothing: no new connection, no second refusal, still running.
    await sleep(6000);
    expect(connects(agent!)).toBe(1);
    expect(revokedLines(agent!)).toHaveLength(1);
    expect(agent!.child.exitCode).toBeNull();
    const timeline = await api.timeline(machineId);
    expect(timeline.find((e) => e.eventType === 'CredentialRevoked')).toMatchObject({ actor: 'admin' });
    expect(timeline.map((e) => e.eventType)).toContain('AgentOffline');
  }, 30_000);

  it('refuses the agent after a restart, with the same clear state', async () => {
    await agent!.kill('SIGTERM');
    agent = new CordonProcess(['agent', 'run', '--data-dir', agentDir], AGENT_ENV);
    await until('the restarted agent to be refused', async () => revokedLines(agent!).length > 0, 15_000);
    expect(JSON.parse(revokedLines(agent!)[0]!)).toMatchObject({ level: 50, status: 401 });
    await sleep(3000);
    expect(connects(agent!)).toBe(0);
    expect(revokedLines(agent!)).toHaveLength(1);
    expect((await api.machine(machineId)).isConnected).toBe(false);
    const audit = await api.audit(20);
    expect(audit.find((a) => a.action === 'RevokeDeviceCredential')).toMatchObject({ targetId: machineId, comment: 'laptop stolen', outcome: 'Succeeded' });
  }, 30_000);
});
