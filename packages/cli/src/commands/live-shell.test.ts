import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawn, type IPty } from 'node-pty';
import { pino } from 'pino';
import { Agent, currentPlatform, enroll, loadAgentConfig } from '@cordon/agent';
import { inventory, startHarness, type Harness } from '@cordon/server/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const CORDON = fileURLToPath(new URL('../../bin/cordon.mjs', import.meta.url));

/**
 * `cordon live` in a real terminal (a pty) against a real server and agent: `shell` makes the
 * terminal the device's shell (raw keys in, its output out, a window resize reaching it) and the
 * line editor comes back when it exits.
 */
describe('cordon live: shell in a real terminal', () => {
  let h: Harness;
  let apiUrl: string;
  let dir: string;
  let agent: Agent;
  let machine: string;
  /** Every HTTP request the server took: keys, resizes and lines go on the session's socket, never as POSTs. */
  const requests: string[] = [];
  beforeAll(async () => {
    h = await startHarness({}, { liveShellPolicy: { allowsShell: () => Promise.resolve(true) } });
    h.clock.t = Date.now();
    let agentUrl: string;
    ({ apiUrl, agentUrl } = await h.server.listen());
    h.server.app.server.on('request', (req: { method?: string; url?: string }) => requests.push(`${req.method} ${req.url}`));
    dir = mkdtempSync(join(tmpdir(), 'cordon-cli-shell-'));
    const { token } = await h.server.services.enrollment.createToken('test');
    const agentDir = join(dir, 'agent');
    ({ machineId: machine } = await enroll(agentUrl, token, agentDir, inventory({ hostname: 'cli-shell' })));
    const platform = {
      ...currentPlatform(),
      firewall: { check: async () => ({ ok: true as const, version: 'test' }), apply: async () => {}, remove: async () => {}, active: async () => false },
      indicatorFirewall: { apply: async () => {}, remove: async () => {}, active: async () => false, counts: async () => new Map<string, number>() },
      releasePrograms: async () => {},
    };
    agent = new Agent(loadAgentConfig({ dataDir: agentDir, reconnectMaxSeconds: 1, isolationWatchSeconds: 3600 }, {}), { logger: pino({ level: 'silent' }), platform });
    await agent.start();
    await vi.waitFor(() => expect(h.server.gateway.isConnected(machine)).toBe(true), { timeout: 20_000 });
  }, 60_000);
  afterAll(async () => {
    await agent.stop();
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('passes keys through to the device shell, forwards a resize, and gives the prompt back when the shell exits', async () => {
    let screen = '';
    const term: IPty = spawn(process.execPath, [CORDON, 'live', machine, '--comment', 'IR-12 shell', '--server', apiUrl, '--token', h.tokens.responder], {
      name: 'xterm-256color',
      cols: 100,
      rows: 30,
      cwd: dir,
      env: { ...process.env, HOME: dir, NO_COLOR: '1' } as Record<string, string>,
    });
    term.onData((d) => (screen += d));
    let exited: number | null = null;
    term.onExit(({ exitCode }) => (exited = exitCode));
    /** cordon's own prompt (`host:cwd$ `, the line editor's cursor moves after it). */
    const ESC = String.fromCharCode(27);
    const PROMPT = new RegExp(`:[^\\s]*\\$ (${ESC}\\[[0-9;?]*[A-Za-z])*$`);
    const sees = async (re: RegExp, from = 0) => {
      await vi.waitFor(() => expect(screen.slice(from)).toMatch(re), { timeout: 40_000, interval: 50 });
      return screen.length;
    };
    try {
      let at = await sees(PROMPT);
      term.write('shell\r');
      // The device's shell answers; what is typed is run there, arithmetic and all.
      at = await sees(new RegExp(`(@.*|bash-[0-9.]+)[#$] (${ESC}\\[[0-9;?]*[A-Za-z])*$`), at);
      term.write('echo $((6*7))-$TERM\r');
      at = await sees(/42-xterm-256color\r*\n/, at);
      term.write('stty size\r');
      at = await sees(/[^\d]30 100\r*\n/, at);
      term.resize(120, 40);
      await new Promise((r) => setTimeout(r, 300));
      term.write('stty size\r');
      at = await sees(/[^\d]40 120\r*\n/, at);
      term.write('exit\r');
      // The line editor is back: cordon's prompt, then exit ends the session.
      await sees(PROMPT, at);
      term.write('exit\r');
      await vi.waitFor(() => expect(exited).toBe(0), { timeout: 30_000 });
    } finally {
      if (exited === null) term.kill();
    }
    const sessions = (await h.call('GET', `/api/liveResponseSessions?machineId=${machine}`)).body.value as { id: string }[];
    const t = (await h.call('GET', `/api/liveResponseSessions/${sessions[0]!.id}/transcript`)).body as { commands: { line: string; status: string; exitStatus: number; input: { data: string | null; cols: number | null }[] }[] };
    const shell = t.commands.find((c) => c.line === 'shell')!;
    expect(shell).toMatchObject({ status: 'Succeeded', exitStatus: 0 });
    const typed = shell.input.map((i) => i.data ?? '').join('');
    expect(typed).toContain('echo $((6*7))-$TERM\r');
    expect(typed).toContain('exit\r');
    expect(shell.input.some((i) => i.cols === 120)).toBe(true);
    expect(requests.filter((r) => /\/liveResponseSessions\/[^/]+\/(commands|stream)/.test(r))).toEqual([]);
  }, 150_000);
});
