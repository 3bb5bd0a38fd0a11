/**
 * Restrict app execution end to end: a real `cordon server`, a real `cordon agent run` and the real
 * exec guard it supervises, driven with the real CLI (`cordon restrict|unrestrict --wait`).
 *
 * Safety (e2e/namespaced-agent.ts): the guard restricts the mount namespace it runs in, so the whole
 * agent runs inside a private mount namespace (`unshare -m --propagation private`), which the test
 * proves is not the host's before anything is restricted. Programs run inside it through nsenter; the
 * untrusted copy lives on a tmpfs mounted there only. The host is never restricted: the same bytes
 * run on it. The agent (and so its guard) is killed at the end, and no guard may be left behind.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CordonClient, type Machine } from '@cordon/cli/client';
import { cleanup, cordon, CordonProcess, freePort, tempDir, until } from './helpers.js';
import { alive, changedCopy, enrollAgent, guardsOf, NamespacedAgent, noGuardLeft, NS_WAIT as WAIT, refused, restrictionSkip, runProgram, TRUE } from './namespaced-agent.js';

const skip = restrictionSkip();

describe.skipIf(skip)(skip ? `restrict app execution end to end (skipped: ${skip})` : 'restrict app execution end to end (the whole agent in a private mount namespace)', () => {
  const dirs: string[] = [];
  const untrusted = changedCopy(TRUE, 'x');
  const untrustedSha = createHash('sha256').update(untrusted).digest('hex');
  let root: string;
  let mnt: string;
  let copy: string;
  let hostCopy: string;
  let agentDir: string;
  let server: CordonProcess | undefined;
  let agent: NamespacedAgent | undefined;
  let api: CordonClient;
  let conn: string[];
  let id: string;

  const machine = (): Promise<Machine> => api.machine(id);
  const cli = async (...args: string[]) => {
    const r = await cordon([...args, ...conn]);
    expect(r.code, `cordon ${args.join(' ')}: ${r.stderr}${r.stdout}`).toBe(0);
    return r.stdout;
  };
  const startAgent = async () => {
    agent = new NamespacedAgent(agentDir);
    await agent.inOwnNamespace();
    return agent;
  };
  /** The copy on the namespace's tmpfs (made anew: a fresh tmpfs is empty). */
  const makeCopy = () => writeFileSync(agent!.view(copy), untrusted, { mode: 0o755 });

  beforeAll(async () => {
    root = tempDir('restriction');
    dirs.push(root);
    mnt = join(root, 'mnt');
    copy = join(mnt, 'untrusted');
    hostCopy = join(root, 'untrusted-on-host');
    agentDir = join(root, 'agent');
    const serverDir = join(root, 'server');
    spawnSync('mkdir', ['-p', mnt, agentDir, serverDir]);
    copyFileSync(TRUE, hostCopy);
    appendFileSync(hostCopy, 'x');

    const port = await freePort();
    const agentPort = await freePort();
    server = new CordonProcess(['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)], { CORDON_HEARTBEAT_SECONDS: '2', CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn' });
    const token = await server.line(/^admin token: (\S+)$/m, WAIT);
    const base = `http://127.0.0.1:${port}`;
    api = new CordonClient(base, token);
    conn = ['--server', base, '--token', token];
    const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim();
    id = await enrollAgent(`https://127.0.0.1:${agentPort}`, enrollment, agentDir);

    await startAgent();
    await agent!.mountTmpfs(mnt);
    makeCopy();
    await until('the agent online', async () => (await machine()).isConnected, WAIT);
  }, 180_000);

  afterAll(async () => {
    await agent?.kill();
    await server?.kill('SIGKILL');
    // The guard exits with its agent (its stdin closes); none may be left.
    await noGuardLeft();
    cleanup(dirs);
  }, 60_000);

  it('reports the executionControl capability', async () => {
    const cap = await until('the executionControl capability', async () => (await machine()).capabilities.find((c) => c.name === 'executionControl'), WAIT);
    expect(cap.unavailable).toBeUndefined();
    // Nothing is restricted yet: the copy runs in the namespace.
    expect((await agent!.run(copy)).code).toBe(0);
  });

  it('restricts with the real CLI: package binaries run, the one-byte-changed copy fails with EPERM, the host is untouched', async () => {
    await cli('restrict', id, '--comment', 'e2e: contain', '--wait');
    const m = await machine();
    expect(m.restrictionState).toBe('Restricted');
    expect(m.restriction).toMatchObject({ state: 'Restricted', guard: 'running', error: null });
    expect(m.restriction!.trusted!.packageFiles).toBeGreaterThan(0);
    expect(m.restriction!.trusted!.allowedHashes).toBeGreaterThan(0);
    expect(guardsOf(agent!.pid)).toHaveLength(1);

    expect(await agent!.run(TRUE)).toMatchObject({ code: 0 });
    const r = await agent!.run(copy);
    expect(refused(r), `${r.code} ${r.stderr}`).toBe(true);
    // The same bytes on the host, outside the namespace: never restricted.
    expect(await runProgram(hostCopy, [])).toMatchObject({ code: 0 });
  });

  it('raises a Low ExecutionControl alert for the blocked file, on the device timeline too', async () => {
    const alert = await until('the blocked-execution alert', async () => (await api.alerts({ top: 100 })).find((a) => a.machineId === id && a.detectionSource === 'ExecutionControl'), WAIT);
    expect(alert).toMatchObject({ severity: 'Low', title: 'Blocked an untrusted program: untrusted' });
    expect(alert.evidence).toContainEqual(expect.objectContaining({ entityType: 'File', sha256: untrustedSha, filePath: copy, detectionStatus: 'Blocked' }));
    await until('the alert on the timeline', async () => (await api.timeline(id, 100)).some((e) => e.eventType === 'AlertRaised' && e.title.includes('Blocked an untrusted program')), WAIT);
  });

  it('a killed guard blocks nothing, each gap is reported, and the guard comes back', async () => {
    const gaps = async () => (await api.timeline(id, 100)).filter((e) => e.eventType === 'RestrictionGuardFailed' && /killed by SIGKILL/.test(e.title));
    // Twice: a second gap like the first must reach the server too.
    for (const n of [1, 2]) {
      const [guard] = guardsOf(agent!.pid);
      expect(guard).toBeGreaterThan(0);
      process.kill(guard!, 'SIGKILL');
      await until('the guard gone', async () => !guardsOf(agent!.pid).includes(guard!), WAIT);
      // The kernel lets executions through while no guard listens (the agent restarts it after 1 s).
      expect(await agent!.run(copy)).toMatchObject({ code: 0 });
      await until(`gap ${n} on the timeline`, async () => (await gaps()).length === n, WAIT);
      await until('a new guard running', async () => guardsOf(agent!.pid).some((p) => p !== guard), WAIT);
      await until('the copy refused again', async () => refused(await agent!.run(copy)), WAIT);
      await until('the report says running', async () => (await machine()).restriction?.guard === 'running', WAIT);
    }
  }, 180_000);

  it('an agent restart in a new namespace re-applies the restriction from the journal before it connects', async () => {
    const old = guardsOf(agent!.pid);
    expect(old).toHaveLength(1);
    await agent!.kill();
    await until('the old guard gone', async () => alive(old).length === 0, WAIT);
    await until('the device offline', async () => !(await machine()).isConnected, WAIT);
    await startAgent();
    await until('a guard running', async () => guardsOf(agent!.pid).length === 1, WAIT);
    await agent!.mountTmpfs(mnt);
    makeCopy();
    await until('the copy refused', async () => refused(await agent!.run(copy)), WAIT);
    expect(await agent!.run(TRUE)).toMatchObject({ code: 0 });
    await until('the agent online again', async () => (await machine()).isConnected, WAIT);
    // Restored first: the agent's log (stderr) says the guard runs before it says it connected.
    const log = agent!.proc.stderr;
    const running = log.indexOf('exec guard running');
    const connected = log.indexOf('connected to the server');
    expect(running, log).toBeGreaterThanOrEqual(0);
    expect(connected, log).toBeGreaterThan(running);
    expect((await machine()).restrictionState).toBe('Restricted');
  }, 120_000);

  it('unrestricts with the real CLI: the copy runs again and the guard is gone', async () => {
    await cli('unrestrict', id, '--comment', 'e2e: clean', '--wait');
    expect(await machine()).toMatchObject({ restrictionState: 'Unrestricted', restriction: { state: 'Unrestricted', guard: null } });
    await until('the guard gone', async () => guardsOf(agent!.pid).length === 0, WAIT);
    expect(await agent!.run(copy)).toMatchObject({ code: 0 });
  });
});
