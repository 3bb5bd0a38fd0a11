/**
 * Live response's `shell` from the console, in a real browser (Debian's chromium): typed in the
 * page's xterm, which is the device's shell while it runs (keys straight through), and the line
 * editor again once it exits. The device group's shell setting comes from a policy this test
 * gives the server (device groups are not part of this bed yet), so the server runs in-process
 * (the test harness, serving the built console) with a real agent in-process too. Nothing on this
 * machine is changed: the shell only echoes. Screenshots land in e2e/.artifacts/screenshots/.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, currentPlatform, enroll, loadAgentConfig } from '@cordon/agent';
import { inventory, startHarness, type Harness } from '@cordon/server/testing';
import { buildConsoleIfStale, launchBrowser, newPage, screenshot, signIn } from './browser.js';
import { REAL, requireReal, until } from './helpers.js';

const WAIT = 30_000;

const screen = (page: Page): Promise<string> => page.locator('.xterm-rows').innerText();
const sees = (page: Page, what: RegExp | string, label = String(what)) =>
  until(`the terminal to show ${label}`, async () => {
    const text = await screen(page);
    return (typeof what === 'string' ? text.includes(what) : what.test(text)) ? text : null;
  }, WAIT);

describe('web console: a shell in a live response session', () => {
  let h: Harness;
  let base: string;
  let dir: string;
  let agent: Agent;
  let machine: string;
  let browser: Browser;

  beforeAll(async () => {
    requireReal(REAL.chromium);
    await buildConsoleIfStale();
    h = await startHarness({}, { liveShellPolicy: { allowsShell: () => Promise.resolve(true) } });
    h.clock.t = Date.now();
    let agentUrl: string;
    ({ apiUrl: base, agentUrl } = await h.server.listen());
    dir = mkdtempSync(join(tmpdir(), 'cordon-e2e-shell-'));
    const { token } = await h.server.services.enrollment.createToken('test');
    ({ machineId: machine } = await enroll(agentUrl, token, join(dir, 'agent'), inventory({ hostname: 'shell-e2e' })));
    const platform = {
      ...currentPlatform(),
      firewall: { check: async () => ({ ok: true as const, version: 'test' }), apply: async () => {}, remove: async () => {}, active: async () => false },
      indicatorFirewall: { apply: async () => {}, remove: async () => {}, active: async () => false, counts: async () => new Map<string, number>() },
      releasePrograms: async () => {},
    };
    agent = new Agent(loadAgentConfig({ dataDir: join(dir, 'agent'), reconnectMaxSeconds: 1, isolationWatchSeconds: 3600 }, {}), { logger: pino({ level: 'silent' }), platform });
    await agent.start();
    await until('the agent to connect', async () => (h.server.gateway.isConnected(machine) ? true : null), WAIT);
    browser = await launchBrowser();
  }, 240_000);

  afterAll(async () => {
    await browser?.close();
    await agent?.stop();
    await h?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('types `shell`, runs a line in it, and exits back to the line editor', async () => {
    const t = await newPage(browser, { baseURL: base });
    const { page } = t;
    page.setDefaultTimeout(WAIT);
    // Keys and lines go on the session's WebSocket: no POST …/commands or …/input, no event stream.
    const requests: string[] = [];
    const sockets: string[] = [];
    page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
    page.on('websocket', (ws) => sockets.push(new URL(ws.url()).pathname));
    const { csrfToken } = await signIn(page, 'admin', h.server.initialAdminPassword!);
    const opened = await page.request.post(`/api/machines/${machine}/liveResponseSessions`, { data: { Comment: 'e2e: shell' }, headers: { 'x-csrf-token': csrfToken } });
    expect(opened.status(), await opened.text()).toBe(201);
    const sessionId = ((await opened.json()) as { id: string }).id;
    await page.goto(`/devices/${machine}/live/${sessionId}`);
    await page.getByTestId('live-session-state').filter({ hasText: 'Active' }).waitFor();
    await sees(page, '/$ ', 'the first prompt');

    const input = page.locator('[data-testid="live-terminal"] textarea');
    await input.focus();
    await page.keyboard.type('shell');
    await page.keyboard.press('Enter');
    // The device's shell prompt (user@host:dir# from the host's rc files, or bash-5.2# without them, as in the tests).
    await sees(page, /(@[^\n]*|bash-[0-9.]+)[#$]\s*$/, "the device shell's prompt");
    await page.keyboard.type('echo hi-$((1+1))');
    await page.keyboard.press('Enter');
    await sees(page, /^hi-2\s*$/m, 'hi-2');
    await screenshot(page, 'console-live-shell');
    await page.keyboard.type('exit');
    await page.keyboard.press('Enter');
    const shellRow = page.getByTestId('live-commands').locator('tbody tr', { hasText: 'shell' });
    await shellRow.filter({ hasText: 'Succeeded' }).waitFor();
    // The line editor is back: the session's own prompt, and a line typed there runs as a session command.
    await sees(page, /\n\/\$ *$/, 'the line editor prompt back');
    await page.keyboard.type('pwd');
    await page.keyboard.press('Enter');
    await page.getByTestId('live-commands').locator('tbody tr', { hasText: 'pwd' }).filter({ hasText: 'Succeeded' }).waitFor();

    const transcript = (await (await page.request.get(`/api/liveResponseSessions/${sessionId}/transcript`)).json()) as { commands: { line: string; exitStatus: number; input: { data: string | null }[] }[] };
    const shell = transcript.commands.find((c) => c.line === 'shell')!;
    expect(shell.exitStatus).toBe(0);
    expect(shell.input.map((i) => i.data ?? '').join('')).toBe('echo hi-$((1+1))\rexit\r');
    expect([...new Set(sockets)]).toEqual([`/api/liveResponseSessions/${sessionId}/socket`]);
    expect(requests.filter((r) => /\/liveResponseSessions\/[^/]+\/(commands|stream)/.test(r))).toEqual([]);
    expect(t.problems()).toEqual([]);
    await t.close();
  }, 180_000);
});
