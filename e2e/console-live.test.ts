/**
 * A live-response session from the console, in a real browser (Debian's chromium) against a real
 * `cordon server` and the real agent on this machine: opened from the device page's action bar,
 * typed in through the page's xterm terminal (read back from its rendered rows), paths completed
 * with Tab from the device, a long library
 * script stopped with Ctrl-C. Nothing here changes this machine: `ls`, `cd`, `pwd` only read, and
 * the script sleeps. Screenshots land in e2e/.artifacts/screenshots/console-live-*.png.
 */
import type { Page } from 'playwright-core';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CordonClient, Machine } from '@cordon/cli/client';
import { screenshot, startConsoleBed, type ConsoleBed } from './browser.js';
import { until } from './helpers.js';

const WAIT = 30_000;

/** What the terminal shows, row by row (xterm's DOM renderer draws each row as a div). */
const screen = (page: Page): Promise<string> => page.locator('.xterm-rows').innerText();
const sees = (page: Page, what: RegExp | string, label = String(what)) =>
  until(`the terminal to show ${label}`, async () => {
    const text = await screen(page);
    return (typeof what === 'string' ? text.includes(what) : what.test(text)) ? text : null;
  }, WAIT);

describe('web console: live response session', () => {
  const dirs: string[] = [];
  let bed: ConsoleBed;
  let api: CordonClient;
  let me: Machine;

  beforeAll(async () => {
    bed = await startConsoleBed('console-live', dirs, { pageTimeoutMs: WAIT });
    ({ api } = bed);
    const agent = await bed.startAgent();
    me = await bed.online(agent.machineId);
  }, 240_000);

  afterAll(() => bed?.close(), 90_000);

  it('opens a session from the device page, browses, and Ctrl-C stops a running library script', async () => {
    await api.uploadLibraryFile(new Blob(['#!/bin/sh\necho started\nsleep 60\necho never\n']), { fileName: 'e2e-sleeper.sh', description: 'sleeps a minute', comment: 'e2e' });
    const t = await bed.signedIn();
    const { page } = t;
    // The session goes over its one WebSocket: no line, key or Ctrl-C as a POST, no event stream.
    const requests: string[] = [];
    const sockets: string[] = [];
    page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
    page.on('websocket', (ws) => sockets.push(new URL(ws.url()).pathname));
    await page.goto(`/devices/${me.id}`);
    // In the bar's row, or under "More actions" when the row is full.
    const bar = page.getByTestId('action-bar');
    await bar.locator('[data-action="ManageTags"]').waitFor();
    if ((await bar.locator('[data-action="LiveResponse"]').count()) === 0) await bar.getByRole('button', { name: 'More actions' }).click();
    await page.locator('[data-action="LiveResponse"]').click();
    const dialog = page.getByRole('dialog', { name: `Initiate Live Response Session — ${me.computerDnsName}` });
    await dialog.getByLabel('Comment').fill('e2e: look around');
    await dialog.getByRole('button', { name: 'Initiate Live Response Session' }).click();

    await page.waitForURL(new RegExp(`/devices/${me.id}/live/[^/]+$`));
    await page.getByTestId('live-session-state').filter({ hasText: 'Active' }).waitFor();
    expect(await page.getByTestId('live-session-level').innerText()).toMatch(/advanced/i);
    await sees(page, '/$ ', 'the first prompt');

    const input = page.locator('[data-testid="live-terminal"] textarea');
    await input.focus();
    await page.keyboard.type('ls /');
    await page.keyboard.press('Enter');
    await sees(page, /\betc\b/, 'etc');
    // Tab completes a path on the device: one name at once, several on a second Tab listed.
    await page.keyboard.type('ls /et');
    await page.keyboard.press('Tab');
    await sees(page, /\/\$ ls \/etc\/\s*$/, 'ls /etc/ completed');
    await page.keyboard.type('hostn');
    await page.keyboard.press('Tab');
    await sees(page, /\/\$ ls \/etc\/hostname \s*$/, 'ls /etc/hostname completed');
    for (let i = 0; i < 5; i++) await page.keyboard.press('Backspace');
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await sees(page, /hostname\s+hosts\s*\n\/\$ ls \/etc\/host\s*$/, 'the names listed on a second Tab');
    await screenshot(page, 'console-live-completion');
    await page.keyboard.press('Control+C');
    await page.keyboard.type('cd /tmp');
    await page.keyboard.press('Enter');
    await sees(page, '/tmp$ ', 'the prompt in /tmp');
    await page.keyboard.type('pwd');
    await page.keyboard.press('Enter');
    await sees(page, /^\/tmp$/m, 'pwd answering /tmp');
    // History: Up brings the last line back.
    await page.keyboard.press('ArrowUp');
    await sees(page, /\/tmp\$ pwd\s*$/, 'pwd again after Up');
    for (let i = 0; i < 3; i++) await page.keyboard.press('Backspace');

    // getfile: the file the device sent is listed in the side panel and downloads as it was.
    await page.keyboard.type('getfile /etc/hostname');
    await page.keyboard.press('Enter');
    await sees(page, /\/etc\/hostname: \d+ bytes? sent/, 'getfile done');
    const fileLink = page.getByTestId('live-files').getByRole('link', { name: '/etc/hostname' });
    await fileLink.waitFor();
    const fetched = await page.evaluate(async (href) => (await fetch(href)).text(), (await fileLink.getAttribute('href'))!);
    expect(fetched).toBe(readFileSync('/etc/hostname', 'utf8'));

    // A command the server refuses (advanced commands are allowed here; a bad quote is not): a red line, and the prompt back.
    await page.keyboard.type("ls 'open");
    await page.keyboard.press('Enter');
    const refused = await sees(page, /\/tmp\$ ls 'open\n.+\n\/tmp\$ *$/, 'the refusal and the prompt back');
    expect(refused).toMatch(/\/tmp\$ ls 'open\n.*quot/i);

    await page.keyboard.type('run e2e-sleeper.sh');
    await page.keyboard.press('Enter');
    await sees(page, /^started$/m, 'started');
    const commands = page.getByTestId('live-commands');
    const runRow = commands.locator('tbody tr', { hasText: 'run e2e-sleeper.sh' });
    expect(await runRow.textContent()).toContain('Running');
    await screenshot(page, 'console-live-running');
    const pressed = Date.now();
    await page.keyboard.press('Control+C');
    await runRow.filter({ hasText: 'Cancelled' }).waitFor({ timeout: 10_000 });
    expect(Date.now() - pressed).toBeLessThan(10_000);
    expect(await runRow.textContent()).toContain('130');
    await sees(page, /\[Cancelled, exit 130\]\s*\/tmp\$ *$/, 'the cancelled line and the prompt back');
    expect(await screen(page)).not.toContain('never');

    // The transcripts are plain links the session cookie opens.
    const json = await page.getByTestId('download-transcript').getAttribute('href');
    expect(json).toMatch(/\/transcript$/);
    const transcript = await page.request.get(json!);
    expect(transcript.status()).toBe(200);
    const body = (await transcript.json()) as { commands: { line: string; status: string; exitStatus: number }[] };
    expect(body.commands.find((c) => c.line === 'run e2e-sleeper.sh')).toMatchObject({ status: 'Cancelled', exitStatus: 130 });
    const cast = await page.request.get((await page.getByTestId('download-cast').getAttribute('href'))!);
    expect(cast.status()).toBe(200);
    expect((await cast.text()).split('\n')[0]).toContain('"version":2');

    await page.getByRole('button', { name: 'End session' }).click();
    await page.getByTestId('live-session-state').filter({ hasText: 'Ended' }).waitFor();
    await sees(page, 'Session ended', 'why the session ended');
    await screenshot(page, 'console-live-ended');
    const sessionId = /\/live\/([^/]+)$/.exec(page.url())![1];
    expect([...new Set(sockets)]).toEqual([`/api/liveResponseSessions/${sessionId}/socket`]);
    expect(requests.filter((r) => /\/liveResponseSessions\/[^/]+\/(commands|stream)/.test(r))).toEqual([]);
    // The refused line was answered on the socket: no failed request for the browser to log.
    expect(t.problems()).toEqual([]);
  }, 180_000);
});
