/**
 * The CLI as a newcomer uses it: `cordon up` (the quick start: server, console and a local agent
 * with SQLite under ./.cordon of the directory it runs in), then the commands an analyst runs
 * against it with no flags or environment, the server and token coming from the `.cordon/cli.json`
 * the quick start wrote. A simulated device (enrolled over the real gateway, never connected)
 * holds a pending action to cancel; the real agent on this machine only reports its inventory.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_VERSION, enroll } from '@cordon/agent';
import { CordonClient } from '@cordon/cli/client';
import type { Inventory } from '@cordon/protocol';
import { cleanup, CORDON, freePort, ownWalkRoots, tempDir, until } from './helpers.js';

const WAIT = 60_000;

/** The environment without the CLI's own variables: what the CLI finds must come from `.cordon/cli.json`. */
function bareEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { CORDON_SERVER: _s, CORDON_TOKEN: _t, ...env } = process.env;
  return { ...env, ...extra };
}

/** `cordon …` started in `cwd` (where ./.cordon lives). */
function start(args: string[], cwd: string, env: NodeJS.ProcessEnv = bareEnv()) {
  const child = spawn(process.execPath, [CORDON, ...args], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d: Buffer) => (out.stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out.stderr += d.toString()));
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, out, exited };
}

async function run(args: string[], cwd: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = start(args, cwd);
  const code = await p.exited;
  return { code, ...p.out };
}

/** The cells of a table the CLI printed for people: its header row first. */
function tableRows(stdout: string): string[][] {
  return stdout
    .split('\n')
    .filter((l) => l.startsWith('│'))
    .map((l) => l.split('│').slice(1, -1).map((c) => c.trim()));
}

/** Processes whose command line mentions `text` (the quick start's own directory names its server and agent). */
function processesMentioning(text: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').some((a) => a.includes(text))) pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

function simInventory(name: string): Inventory {
  return {
    hostname: name,
    osPlatform: 'Linux',
    osVersion: 'Debian GNU/Linux 12 (bookworm)',
    osProcessor: 'x64',
    kernel: '6.1.0-sim',
    ipAddresses: [{ address: '198.51.100.30', family: 'IPv4', interface: 'eth0', mac: null }],
    agentVersion: AGENT_VERSION,
    capabilities: [{ name: 'inventory', version: '1' }],
    deviceTags: [],
  };
}

describe('the CLI against `cordon up`', () => {
  const dirs: string[] = [];
  /** The quick start's working directory: ./.cordon/{server,agent,cli.json} land here. */
  const home = tempDir('cli-up');
  dirs.push(home);
  let up: ReturnType<typeof start>;
  let api: CordonClient;
  let base: string;
  let agentPort: number;
  let localId: string;

  beforeAll(async () => {
    const port = await freePort();
    agentPort = await freePort();
    // The local agent inherits this environment: its packages would walk the test's own dirs.
    up = start(['up', '--port', String(port), '--agent-port', String(agentPort)], home, bareEnv({ CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn', CORDON_AGENT_LOG_LEVEL: 'warn', ...ownWalkRoots(dirs) }));
    await until('the quick start to be up', async () => {
      if (up.child.exitCode !== null) throw new Error(`cordon up exited ${up.child.exitCode}: ${up.out.stderr.slice(-2000)}`);
      return /^local agent: running from /m.test(up.out.stdout);
    }, WAIT);
    base = /^console: (\S+)$/m.exec(up.out.stdout)![1]!;
    expect(base).toBe(`http://127.0.0.1:${port}`);
    const token = /^admin token: (\S+)$/m.exec(up.out.stdout)![1]!;
    api = new CordonClient(base, token);
    localId = (JSON.parse(readFileSync(join(home, '.cordon', 'agent', 'enrollment.json'), 'utf8')) as { machineId: string }).machineId;
  }, 90_000);

  afterAll(async () => {
    if (up && up.child.exitCode === null && up.child.signalCode === null) {
      up.child.kill('SIGKILL');
      await up.exited;
    }
    for (const pid of processesMentioning(home)) process.kill(pid, 'SIGKILL');
    cleanup(dirs);
  }, 30_000);

  it('starts the server, the console and an enrolled local agent under ./.cordon, and leaves the CLI its server and token (mode 0600)', async () => {
    const m = await until('the local agent to be online', async () => {
      const x = await api.machine(localId);
      return x.isConnected ? x : null;
    }, WAIT);
    expect(m.healthStatus).toBe('Active');
    expect(existsSync(join(home, '.cordon', 'server', 'cordon.db'))).toBe(true);
    const html = await fetch(`${base}/`);
    expect(html.status).toBe(200);
    expect(await html.text()).toMatch(/<div id="root">/);
    const cli = JSON.parse(readFileSync(join(home, '.cordon', 'cli.json'), 'utf8')) as { server: string; token: string };
    expect(cli).toEqual({ server: base, token: expect.any(String) });
    expect(statSync(join(home, '.cordon', 'cli.json')).mode & 0o777).toBe(0o600);
  }, 90_000);

  it('finds the server and token in .cordon/cli.json when no flag or variable gives them', async () => {
    const r = await run(['machines', '--json'], home);
    expect(r.code, r.stderr).toBe(0);
    expect((JSON.parse(r.stdout) as { id: string }[]).map((x) => x.id)).toContain(localId);
    // Elsewhere (no .cordon/cli.json) the same command says what is missing.
    const elsewhere = tempDir('cli-elsewhere');
    dirs.push(elsewhere);
    const lost = await run(['machines'], elsewhere);
    expect(lost.code).not.toBe(0);
    expect(lost.stderr).toMatch(/no server: pass --server URL or set CORDON_SERVER/);
  }, 60_000);

  it('registers an app whose client credentials get an access token', async () => {
    const r = await run(['app', 'create', '--role', 'viewer', '--name', 'ci-reader', '--data-dir', join(home, '.cordon', 'server')], home);
    expect(r.code, r.stderr).toBe(0);
    const clientId = /^client_id: (\S+)$/m.exec(r.stdout)?.[1];
    const clientSecret = /^client_secret: (\S+)$/m.exec(r.stdout)?.[1];
    expect(clientId && clientSecret, r.stdout).toBeTruthy();
    const t = await fetch(`${base}/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId!, client_secret: clientSecret! }) });
    expect(t.status).toBe(200);
    const { access_token } = (await t.json()) as { access_token: string };
    const machines = await fetch(`${base}/api/machines`, { headers: { authorization: `Bearer ${access_token}` } });
    expect(machines.status).toBe(200);
    const wrong = await fetch(`${base}/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ grant_type: 'client_credentials', client_id: clientId!, client_secret: `${clientSecret!}x` }) });
    expect(wrong.status).not.toBe(200);
  }, 60_000);

  it('cancels a pending action, and shows it with `action`, `actions` filters and the device `timeline`', async () => {
    // A device that enrolled and never connected: its action stays Pending until cancelled.
    const simDir = tempDir('cli-sim');
    dirs.push(simDir);
    const enrollment = await run(['enrollment-token', 'create', '--data-dir', join(home, '.cordon', 'server')], home);
    expect(enrollment.code, enrollment.stderr).toBe(0);
    const name = `pending-sim-${Date.now().toString(36)}`;
    const sim = await enroll(`https://127.0.0.1:${agentPort}`, enrollment.stdout.trim(), simDir, simInventory(name));
    const submitted = await api.submit(sim.machineId, 'refreshInventory', { Comment: 'stays pending' });
    expect(submitted.status).toBe('Pending');

    const cancelled = await run(['cancel', submitted.id, '--comment', 'not needed after all', '--json'], home);
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(JSON.parse(cancelled.stdout)).toMatchObject({ id: submitted.id, status: 'Cancelled' });
    expect((await api.action(submitted.id)).status).toBe('Cancelled');
    const again = await run(['cancel', submitted.id, '--comment', 'twice'], home);
    expect(again.code).not.toBe(0);
    expect(again.stderr.trim().split('\n')).toHaveLength(1);

    const one = await run(['action', submitted.id], home);
    expect(one.code, one.stderr).toBe(0);
    const [head, row] = tableRows(one.stdout);
    expect(head!.slice(0, 5)).toEqual(['id', 'type', 'machine', 'status', 'requestor']);
    expect(row!.slice(0, 4)).toEqual([submitted.id, 'RefreshInventory', name, 'Cancelled']);

    // Filters by machine (its name), status and type, in any case; the local agent's actions are not listed.
    const local = await api.submit(localId, 'refreshInventory', { Comment: 'from the test' });
    await until('the local refresh to end', async () => (await api.action(local.id)).status === 'Succeeded', WAIT);
    const ids = async (args: string[]) => {
      const r = await run(['actions', ...args, '--json'], home);
      expect(r.code, r.stderr).toBe(0);
      return (JSON.parse(r.stdout) as { id: string }[]).map((a) => a.id);
    };
    expect(await ids(['--machine', name])).toEqual([submitted.id]);
    expect(await ids(['--status', 'cancelled'])).toEqual([submitted.id]);
    expect(await ids(['--status', 'SUCCEEDED', '--type', 'refreshinventory'])).toContain(local.id);
    expect(await ids(['--status', 'Succeeded'])).not.toContain(submitted.id);
    expect(await ids(['--type', 'Isolate'])).toEqual([]);
    expect(await ids(['--top', '1'])).toEqual([local.id]);

    const timeline = await run(['timeline', name, '--json'], home);
    expect(timeline.code, timeline.stderr).toBe(0);
    const events = JSON.parse(timeline.stdout) as { eventType: string; actionId: string | null; actor: string }[];
    expect(events.map((e) => e.eventType)).toEqual(expect.arrayContaining(['AgentEnrolled', 'ActionSubmitted']));
    expect(events.filter((e) => e.actionId === submitted.id).length).toBeGreaterThanOrEqual(2);
    const table = await run(['timeline', name, '--top', '1'], home);
    expect(table.code, table.stderr).toBe(0);
    const rows = tableRows(table.stdout);
    expect(rows[0]).toEqual(['time', 'event', 'what', 'by']);
    expect(rows).toHaveLength(2);
    expect(rows[1]![1]).toBe(events[0]!.eventType);
    // A dozen CLI processes one after another: over two minutes on a loaded 2-core machine.
  }, 300_000);

  it('stops server and agent on SIGTERM and leaves no process behind', async () => {
    expect(processesMentioning(home).length).toBeGreaterThanOrEqual(1);
    up.child.kill('SIGTERM');
    expect(await up.exited).toBe(0);
    await until('no process of the quick start left', async () => processesMentioning(home).length === 0, 15_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${processesMentioning(home).map((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ')).join('; ')}`);
    });
    expect((await fetch(`${base}/`).catch(() => null))?.status).toBeUndefined();
  }, 60_000);
});
