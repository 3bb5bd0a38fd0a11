/**
 * The foundation end to end with real processes: one `cordon server`, two `cordon agent run`,
 * real TLS and SQLite. Covers offline delivery, server and agent restarts mid-action, and a rogue
 * gateway (holding the server's TLS key) replaying and forging commands the agent must refuse.
 */
import Database from 'better-sqlite3';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { AGENT_VERSION } from '@cordon/agent';
import { CordonClient } from '@cordon/cli/client';
import { CommandSigner } from '@cordon/protocol';
import { cleanup, cordon, CordonProcess, freePort, sleep, tempDir, until } from './helpers.js';

/** The agents' temp root (TMPDIR): the test's own, so what they leave behind is seen here and never lands in the host's /tmp. */
const agentTmp = tempDir('agent-tmp');
const AGENT_ENV = { CORDON_AGENT_RECONNECT_MAX_SECONDS: '2', CORDON_AGENT_ACTION_DELAY_MS: '1500', CORDON_AGENT_LOG_LEVEL: 'debug', TMPDIR: agentTmp };

let serverDir: string;
let dirA: string;
let dirB: string;
let port: number;
let agentPort: number;
let server: CordonProcess | undefined;
let agentA: CordonProcess | undefined;
let agentB: CordonProcess | undefined;
let api: CordonClient;
let adminToken: string;
let idA: string;
let idB: string;

async function startServer(): Promise<void> {
  server = new CordonProcess(['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_HEARTBEAT_SECONDS: '2', CORDON_RATE_LIMIT_PER_MINUTE: '20000' });
  await server.line(/^agents: (.+)$/m);
}

const startAgent = (dir: string) => new CordonProcess(['agent', 'run', '--data-dir', dir], AGENT_ENV);
const status = async (id: string) => (await api.action(id)).status;

beforeAll(async () => {
  serverDir = tempDir('server');
  dirA = tempDir('agent-a');
  dirB = tempDir('agent-b');
  port = await freePort();
  agentPort = await freePort();
  await startServer();
  adminToken = await server!.line(/^admin token: (\S+)$/m);
  expect(await server!.line(/^console: (\S+)$/m)).toBe(`http://127.0.0.1:${port}`);
  api = new CordonClient(`http://127.0.0.1:${port}`, adminToken);
  // Enrollment tokens are made by the CLI on the server's data dir while the server runs.
  const token = (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim();
  writeFileSync(join(dirA, 'agent.json'), JSON.stringify({ tags: ['pci'] }));
  for (const dir of [dirA, dirB]) {
    const r = await cordon(['agent', 'enroll', '--server', `https://127.0.0.1:${agentPort}`, '--token', token, '--data-dir', dir]);
    expect(r.code, r.stderr).toBe(0);
  }
  idA = JSON.parse(readFileSync(join(dirA, 'enrollment.json'), 'utf8')).machineId;
  idB = JSON.parse(readFileSync(join(dirB, 'enrollment.json'), 'utf8')).machineId;
  agentA = startAgent(dirA);
  await until('agent A online', async () => (await api.machine(idA)).isConnected);
}, 90_000);

afterAll(async () => {
  await Promise.all([agentA?.kill('SIGKILL'), agentB?.kill('SIGKILL'), server?.kill('SIGKILL')]);
  cleanup([serverDir, dirA, dirB, agentTmp]);
});

describe('foundation end to end (real processes)', () => {
  it('shows the enrolled device Active with its inventory, capabilities and device-side tags', async () => {
    const a = await api.machine(idA);
    expect(a).toMatchObject({ healthStatus: 'Active', osPlatform: 'Linux', agentVersion: AGENT_VERSION, machineTags: ['pci'] });
    expect(a.machineTagDetails).toEqual([{ tag: 'pci', source: 'device' }]);
    expect(a.capabilities.map((c) => c.name)).toContain('inventory');
  });

  it('runs an action submitted while the agent is offline once it connects', async () => {
    const a = await api.submit(idB, 'refreshInventory', { Comment: 'queued while offline' });
    await sleep(1000);
    expect(await status(a.id)).toBe('Pending');
    agentB = startAgent(dirB);
    const done = await until('offline action to finish', async () => {
      const x = await api.action(a.id);
      return x.status === 'Succeeded' && x;
    });
    expect(done.result).toMatchObject({ hostname: expect.any(String) });
  }, 40_000);

  it('drives tags and actions through the CLI, as tables and as JSON', async () => {
    const env = { CORDON_SERVER: `http://127.0.0.1:${port}`, CORDON_TOKEN: adminToken };
    const tag = await cordon(['tag', idA, 'prod'], env);
    expect(tag.code, tag.stderr).toBe(0);
    expect(tag.stdout).toContain('prod');
    const list = await cordon(['machines', '--tag', 'prod', '--json'], env);
    expect(JSON.parse(list.stdout).map((m: { id: string }) => m.id)).toEqual([idA]);
    const refresh = await cordon(['refresh', idA, '--comment', 'from the CLI', '--wait', '--json'], env);
    expect(refresh.code, refresh.stderr).toBe(0);
    expect(JSON.parse(refresh.stdout).status).toBe('Succeeded');
    const bad = await cordon(['refresh', idA, '--comment', ''], env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    const viewer = (await cordon(['token', 'create', '--role', 'viewer', '--data-dir', serverDir])).stdout.trim();
    const denied = await cordon(['refresh', idA, '--comment', 'x'], { ...env, CORDON_TOKEN: viewer });
    expect(denied.stderr).toMatch(/viewer role does not have the actions.submit permission/);
    // Seven CLI processes one after another: 24 s on a quiet 2-core machine, over 40 s under load.
  }, 90_000);

  it('accepts an in-flight result after a server restart', async () => {
    const a = await api.submit(idA, 'refreshInventory', { Comment: 'restart mid-action' });
    await until('InProgress', async () => (await status(a.id)) === 'InProgress');
    await server!.kill('SIGKILL');
    await sleep(2000); // the agent finishes while the server is down; its result waits in the journal
    await startServer();
    await until('result after restart', async () => (await status(a.id)) === 'Succeeded', 20_000);
  }, 40_000);

  it('delivers an action that was pending when the server restarted', async () => {
    // B reconnects to the restarted server with backoff; stop it only once it is back.
    await until('agent B back after the server restart', async () => (await api.machine(idB)).isConnected);
    await agentB!.kill('SIGTERM');
    await until('agent B offline', async () => !(await api.machine(idB)).isConnected);
    const a = await api.submit(idB, 'refreshInventory', { Comment: 'pending across a restart' });
    await server!.kill('SIGKILL');
    await startServer();
    expect(await status(a.id)).toBe('Pending');
    agentB = startAgent(dirB);
    await until('pending action done', async () => (await status(a.id)) === 'Succeeded', 20_000);
  }, 40_000);

  it('reports an action cut off by an agent kill as interrupted, and never runs it again', async () => {
    const a = await api.submit(idA, 'refreshInventory', { Comment: 'agent dies mid-action' });
    await until('InProgress', async () => (await status(a.id)) === 'InProgress');
    const started = new RegExp(`"actionId":"${a.id}"[^\\n]*"msg":"running action"`);
    expect(agentA!.stderr).toMatch(started);
    await agentA!.kill('SIGKILL');
    agentA = startAgent(dirA);
    const done = await until('interrupted result', async () => {
      const x = await api.action(a.id);
      return x.status !== 'InProgress' && x;
    });
    expect(done.status).toBe('Failed');
    expect(done.error).toMatch(/stopped while the action was running.*not run again/);
    await sleep(2000); // longer than the injected delay: a re-run would have reported by now
    expect(agentA.stderr).toContain('reported actions interrupted by the last stop');
    expect(agentA.stderr).not.toMatch(started);
    // The killed process never removed the action's temp directory: the restarted one does.
    expect(readdirSync(agentTmp).filter((n) => n.startsWith('cordon-'))).toEqual([]);
    const timeline = await api.timeline(idA, 200);
    expect(timeline.filter((e) => e.actionId === a.id && e.eventType === 'ActionStateChanged').map((e) => e.title)).toEqual([expect.stringContaining('failed'), expect.stringContaining('started')]);
  }, 40_000);

  it('refuses replayed, tampered, expired and other-machine commands from a rogue gateway', async () => {
    // The last succeeded action of A is the command a rogue would replay.
    const replayed = (await api.actions({ filter: `machineId eq '${idA}' and status eq 'Succeeded'`, top: 1 }))[0]!;
    await server!.kill('SIGTERM');
    const db = new Database(join(serverDir, 'cordon.db'), { readonly: true });
    const row = db.prepare('select signed_payload, signature, key_id from actions where id = ?').get(replayed.id) as { signed_payload: string; signature: string; key_id: string };
    db.close();
    const keys = join(serverDir, 'keys');
    const signer = new CommandSigner(readFileSync(join(keys, 'signing.key'), 'utf8'));
    const now = Date.now();
    const sign = (machineId: string, expiresAt: number) =>
      signer.sign({ actionId: crypto.randomUUID(), machineId, type: 'RefreshInventory', parameters: {}, issuedAt: new Date(now - 60_000).toISOString(), expiresAt: new Date(expiresAt).toISOString() });
    const genuine = { payload: row.signed_payload, signature: row.signature, keyId: row.key_id };
    const commands = [
      genuine,
      { ...genuine, payload: row.signed_payload.replace(idA, idB) },
      sign(idA, now - 1000),
      sign(idB, now + 3600_000),
    ];

    const frames: any[] = [];
    const rogue: Server = createServer({ cert: readFileSync(join(keys, 'server.crt')), key: readFileSync(join(keys, 'server.key')) });
    const wss = new WebSocketServer({ server: rogue, path: '/agent/v1' });
    wss.on('connection', (ws, req) => {
      if (!req.headers.authorization?.includes(idA)) return ws.close();
      ws.on('message', (d) => {
        const f = JSON.parse(d.toString());
        frames.push(f);
        if (f.type === 'hello') {
          ws.send(JSON.stringify({ type: 'welcome', machineId: idA, serverTime: new Date().toISOString(), heartbeatSeconds: 30 }));
          for (const command of commands) ws.send(JSON.stringify({ type: 'command', command }));
        }
      });
    });
    await new Promise<void>((r) => rogue.listen(agentPort, '127.0.0.1', () => r()));
    try {
      await until('agent answers to all four commands', async () => frames.filter((f) => f.type === 'refused' || (f.type === 'result' && f.actionId === replayed.id)).length >= 4, 20_000);
      await sleep(2500); // anything run would ack and report within the injected delay
      const after = frames.slice(frames.findIndex((f) => f.type === 'hello') + 1);
      expect(after.filter((f) => f.type === 'ack')).toEqual([]);
      expect(after.filter((f) => f.type === 'inventory')).toEqual([]);
      expect(after.find((f) => f.type === 'result' && f.actionId === replayed.id)).toMatchObject({ status: 'Succeeded' });
      expect(after.filter((f) => f.type === 'refused').map((f) => f.reason).sort()).toEqual(['BadSignature', 'Expired', 'WrongMachine']);
    } finally {
      for (const c of wss.clients) c.terminate();
      wss.close();
      await new Promise<void>((r) => rogue.close(() => r()));
    }
    await startServer();
    await until('agent A back on the real server', async () => (await api.machine(idA)).isConnected, 20_000);
  }, 60_000);

  it('runs a bulk action whose commands share one signature (Merkle proofs checked by the agents)', async () => {
    await until('both agents connected', async () => (await api.machine(idA)).isConnected && (await api.machine(idB)).isConnected);
    const r = await api.request<{ value: { id: string }[]; skipped: unknown[] }>('POST', '/api/machineactions/bulk', { Type: 'RefreshInventory', Comment: 'fleet sweep', MachineIds: [idA, idB] });
    expect(r.value).toHaveLength(2);
    expect(r.skipped).toEqual([]);
    for (const a of r.value) await until(`bulk action ${a.id}`, async () => (await status(a.id)) === 'Succeeded', 20_000);
  }, 40_000);

  it('records every state change and online/offline on the timeline and in the audit log', async () => {
    const events = await api.timeline(idB, 200);
    const types = new Set(events.map((e) => e.eventType));
    for (const t of ['AgentEnrolled', 'AgentOnline', 'AgentOffline', 'ActionSubmitted', 'ActionStateChanged']) expect(types, t).toContain(t);
    const audit = await api.request<{ value: { action: string; outcome: string }[] }>('GET', '/api/audit?$top=1000');
    expect(audit.value.filter((a) => a.action === 'RefreshInventory' && a.outcome === 'Succeeded').length).toBeGreaterThanOrEqual(4);
  });

  it('detects an edited and a deleted audit record (`cordon audit verify`, through the API and on the store)', async () => {
    const env = { CORDON_SERVER: `http://127.0.0.1:${port}`, CORDON_TOKEN: adminToken };
    const ok = await cordon(['audit', 'verify'], env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^audit log verified: \d+ record\(s\) intact/);
    // Someone with write access to the database (not to the data directory) edits one record and deletes another.
    const db = new Database(join(serverDir, 'cordon.db'));
    try {
      const { actor } = db.prepare('select actor from audit_log where seq = 3').get() as { actor: string };
      db.prepare("update audit_log set actor = 'nobody' where seq = 3").run();
      const edited = await cordon(['audit', 'verify', '--json'], env);
      expect(edited.code).toBe(1);
      expect(JSON.parse(edited.stdout).firstBroken).toMatchObject({ seq: 3, reason: expect.stringContaining('changed') });
      db.prepare('update audit_log set actor = ? where seq = 3').run(actor);
      db.prepare('delete from audit_log where seq = 5').run();
    } finally {
      db.close();
    }
    const deleted = await cordon(['audit', 'verify', '--data-dir', serverDir], env);
    expect(deleted.code).toBe(1);
    expect(deleted.stdout).toContain('first broken record: 5');
    expect(deleted.stdout).toContain('record 5 is missing');
  }, 60_000);
});
