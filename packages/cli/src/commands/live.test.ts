import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Agent, currentPlatform, enroll, loadAgentConfig } from '@cordon/agent';
import { inventory, startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { CordonClient, type LiveSession } from '../api-client.js';
import { CliError } from '../context.js';
import { runCordon } from '../testing/run-cordon.js';
import { liveCompleter } from './live-terminal.js';

/** `cordon live` against a real server and a real agent: lines piped in run on the device, one by one. */
describe('cordon live (against a real server and agent)', () => {
  let h: Harness;
  let apiUrl: string;
  let dir: string;
  let agent: Agent;
  let machine: string;
  // The agent reports this machine's real host name.
  let name: string;
  /** Every HTTP request and WebSocket upgrade the server took: a session's lines go on its socket, never as POSTs. */
  const requests: string[] = [];
  const upgrades: string[] = [];
  beforeAll(async () => {
    h = await startHarness();
    // A real agent checks commands' expiry against the real time.
    h.clock.t = Date.now();
    let agentUrl: string;
    ({ apiUrl, agentUrl } = await h.server.listen());
    h.server.app.server.on('request', (req: { method?: string; url?: string }) => requests.push(`${req.method} ${req.url}`));
    h.server.app.server.on('upgrade', (req: { url?: string }) => upgrades.push(req.url ?? ''));
    dir = mkdtempSync(join(tmpdir(), 'cordon-cli-live-'));
    const { token } = await h.server.services.enrollment.createToken('test');
    const agentDir = join(dir, 'agent');
    ({ machineId: machine } = await enroll(agentUrl, token, agentDir, inventory({ hostname: 'cli-live' })));
    // This machine's firewall is never asked or touched.
    const platform = {
      ...currentPlatform(),
      firewall: { check: async () => ({ ok: true as const, version: 'test' }), apply: async () => {}, remove: async () => {}, active: async () => false },
      indicatorFirewall: { apply: async () => {}, remove: async () => {}, active: async () => false, counts: async () => new Map<string, number>() },
      releasePrograms: async () => {},
    };
    agent = new Agent(loadAgentConfig({ dataDir: agentDir, reconnectMaxSeconds: 1, isolationWatchSeconds: 3600 }, {}), { logger: pino({ level: 'silent' }), platform });
    await agent.start();
    await vi.waitFor(() => expect(h.server.gateway.isConnected(machine)).toBe(true), { timeout: 20_000 });
    name = (await h.call('GET', `/api/machines/${machine}`)).body.computerDnsName as string;
  });
  afterAll(async () => {
    await agent.stop();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const as = (role: keyof Harness['tokens']) => ['--server', apiUrl, '--token', h.tokens[role]];

  it('runs piped lines one by one on the device, shows a failing exit, and ends the session; it is listed and its transcript replays', async () => {
    const out = await runCordon(['live', machine, '--comment', 'IR-9 triage', ...as('analyst')], { quiet: true, stdin: 'cd /tmp\npwd\nfrobnicate\n' });
    expect(out).toContain('/tmp\n');
    expect(out).toMatch(/\[exit 127\]/);
    expect(out).not.toMatch(/\[exit 0\]/);
    // The lines went on the session's socket.
    expect(upgrades.filter((u) => /^\/api\/liveResponseSessions\/[^/]+\/socket$/.test(u))).toHaveLength(1);
    expect(requests.filter((r) => /\/liveResponseSessions\/[^/]+\/(commands|stream)/.test(r))).toEqual([]);

    const sessions = JSON.parse(await runCordon(['live', 'sessions', '--machine', machine, '--json', ...as('analyst')], { quiet: true })) as { id: string; comment: string; openedBy: string; commands: number }[];
    expect(sessions).toHaveLength(1);
    const [s] = sessions;
    expect(s).toMatchObject({ comment: 'IR-9 triage', openedBy: 'analyst-user', commands: 3 });
    expect((await h.call('GET', `/api/liveResponseSessions/${s!.id}`)).body).toMatchObject({ state: 'Ended' });
    expect(await runCordon(['live', 'sessions', ...as('analyst')], { quiet: true })).toMatch(new RegExp(`${s!.id}\\s*│ ${name}\\s*│ analyst-user\\s*│ basic\\s*│ Ended`));

    const cast = await runCordon(['live', 'transcript', s!.id, '--cast', ...as('analyst')], { quiet: true });
    const header = JSON.parse(cast.split('\n')[0]!) as { version: number; width: number; height: number };
    expect(header).toMatchObject({ version: 2 });
    expect(cast).toContain('/tmp');

    const file = join(dir, 'transcript.json');
    expect(await runCordon(['live', 'transcript', s!.id, '-o', file, ...as('analyst')], { quiet: true })).toBe('');
    const transcript = JSON.parse(readFileSync(file, 'utf8')) as { session: { id: string }; commands: { line: string; exitStatus: number; output: string }[] };
    expect(transcript.session.id).toBe(s!.id);
    expect(transcript.commands.map((c) => [c.line, c.exitStatus])).toEqual([
      ['cd /tmp', 0],
      ['pwd', 0],
      ['frobnicate', 127],
    ]);
  }, 60_000);

  it('finds the machine by name; says the API refusal of a line on stderr and goes on', async () => {
    let err = '';
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
    let out: string;
    try {
      out = await runCordon(['live', name, ...as('analyst')], { stdin: 'remediate process 1\npwd\n' });
    } finally {
      stderr.mockRestore();
    }
    expect(err).toMatch(/cordon: .*remediate/);
    expect(out).toMatch(/^\/.*\n$/);
    expect(err).toMatch(/session ended: /);
  }, 60_000);

  it('a viewer cannot open a session: a clear error and exit 1, and nothing is opened', async () => {
    const before = (await h.call('GET', '/api/liveResponseSessions')).body.value.length as number;
    const failed = await runCordon(['live', machine, ...as('viewer')], { quiet: true, stdin: 'pwd\n' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(failed).toBeInstanceOf(CliError);
    expect((failed as CliError).exitCode).toBe(1);
    expect((failed as CliError).message).toMatch(new RegExp(`^cannot open a live-response session on ${name}: The viewer role does not have the live\\.basic permission`));
    expect((await h.call('GET', '/api/liveResponseSessions')).body.value).toHaveLength(before);
  });

  it('waits while the device is offline, and exits 1 when the session ends before the device took it', async () => {
    const offline = await h.enroll({ hostname: 'cli-live-offline', agentVersion: '0.2.0', capabilities: [{ name: 'liveResponse', version: '1' }] });
    let err = '';
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((err += String(chunk)), true));
    try {
      const running = runCordon(['live', offline, ...as('analyst')], { stdin: 'pwd\n' }).then(
        () => null,
        (e: unknown) => e,
      );
      await vi.waitFor(() => expect(err).toContain('waiting for cli-live-offline to connect (queued)…'), { timeout: 10_000 });
      const [queued] = (await h.call('GET', `/api/liveResponseSessions?machineId=${offline}`)).body.value as { id: string; state: string }[];
      expect(queued).toMatchObject({ state: 'Queued' });
      expect((await h.call('POST', `/api/liveResponseSessions/${queued!.id}/end`, { token: h.tokens.analyst, body: { Comment: 'not needed' } })).status).toBe(200);
      const failed = await running;
      expect(failed).toBeInstanceOf(CliError);
      expect((failed as CliError).exitCode).toBe(1);
      expect((failed as CliError).message).toMatch(/^the session could not be opened: /);
    } finally {
      stderr.mockRestore();
    }
  }, 30_000);

  it('completes command names and, asking the device, paths (Tab in the REPL)', async () => {
    const tree = join(dir, 'case files');
    mkdirSync(join(tree, 'logs'), { recursive: true });
    writeFileSync(join(tree, 'loader.sh'), '');
    const opened = await h.call('POST', `/api/machines/${machine}/liveResponseSessions`, { token: h.tokens.analyst, body: { Comment: 'tab' } });
    expect(opened.status).toBe(201);
    const session = opened.body as LiveSession;
    await vi.waitFor(async () => expect((await h.call('GET', `/api/liveResponseSessions/${session.id}`)).body.state).toBe('Active'), { timeout: 20_000 });
    try {
      const complete = liveCompleter(new CordonClient(apiUrl, h.tokens.analyst), session);
      expect(await complete('pw')).toEqual([['pwd '], 'pw']);
      // A basic session is offered no advanced command.
      expect((await complete('r'))[0]).not.toContain('run');
      expect(await complete(`ls ${dir}/case\\ f`)).toEqual([[`${dir}/case\\ files/`], `${dir}/case\\ f`]);
      expect(await complete(`cd '${tree}/lo`)).toEqual([[`'${tree}/loader.sh`, `'${tree}/logs/`], `'${tree}/lo`]);
      // The only match, inside an open quote: the quote closed and a blank after it.
      expect(await complete(`fileinfo '${tree}/loa`)).toEqual([[`'${tree}/loader.sh' `], `'${tree}/loa`]);
      // Not a path: nothing is asked.
      expect(await complete('processes x')).toEqual([[], 'processes x']);
      // A session the caller did not open completes nothing (the API refuses it): the line stays as typed.
      const other = liveCompleter(new CordonClient(apiUrl, h.tokens.responder), session);
      expect(await other(`ls ${tree}/lo`)).toEqual([[], `ls ${tree}/lo`]);
    } finally {
      await h.call('POST', `/api/liveResponseSessions/${session.id}/end`, { token: h.tokens.analyst, body: { Comment: 'done' } });
      await vi.waitFor(async () => expect((await h.call('GET', `/api/liveResponseSessions/${session.id}`)).body.state).toBe('Ended'), { timeout: 20_000 });
    }
  }, 60_000);

  it('says what is wrong with a transcript it cannot get', async () => {
    await expect(runCordon(['live', 'transcript', 'no-such-session', ...as('analyst')], { quiet: true })).rejects.toThrow(/no-such-session/);
  });
});
