/**
 * Finding one's way in the web console (issue 13, points 2, 3, 10 and 12), in a real browser
 * (Debian's chromium) against a real `cordon server`, a real agent on this machine (heartbeat every
 * second, so its "last seen" moves) and a simulated device that stays connected, carries many tags
 * and answers the action it is sent with progress, never a result (so it stays "In progress").
 *
 * The header search opens the best match on Enter; "Last seen" ticks and follows the API; the
 * device page's action bar keeps one row at 1280 and 1440 px in both themes, with unavailable
 * actions drawn light; statuses read as people say them; the Action center's dates do not wrap;
 * a first visit offers a plain sign-in; an unknown device says so; tags are found by any part, in
 * any case. Screenshots land in e2e/.artifacts/screenshots/console-device-<width>-<theme>.png etc.
 *
 * Nothing here changes this machine: the real agent is only looked at; the one action submitted
 * goes to the simulated device.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_VERSION, enroll } from '@cordon/agent';
import { CordonClient } from '@cordon/cli/client';
import { PROTOCOL_VERSION, type Inventory } from '@cordon/protocol';
import { screenshot, signIn, startConsoleBed, type ConsoleBed, type TestPage } from './browser.js';
import { tempDir, until } from './helpers.js';

const WAIT = 30_000;
const hex = randomBytes(3).toString('hex');
/** The simulated device, and one whose name starts the same (the search must still open the first). */
const busyName = `nav-${hex}`;
const twinName = `nav-${hex}-old`;
const TAGS = ['ux-review', ...Array.from({ length: 11 }, (_, i) => `team-payments-europe-${i + 1}`)];

function simInventory(name: string, ip: string): Inventory {
  return {
    hostname: name,
    osPlatform: 'Linux',
    osVersion: 'Debian GNU/Linux 12 (bookworm)',
    osProcessor: 'x64',
    kernel: '6.1.0-sim',
    ipAddresses: [{ address: ip, family: 'IPv4', interface: 'eth0', mac: null }],
    agentVersion: AGENT_VERSION,
    capabilities: [
      { name: 'inventory', version: '1' },
      { name: 'isolation', version: '1', provider: 'nftables 1.0.6' },
      { name: 'investigationPackage', version: '1' },
    ],
    deviceTags: [],
  };
}

describe('web console: search, last seen, layout and first steps', () => {
  const dirs: string[] = [];
  const sockets: WebSocket[] = [];
  let bed: ConsoleBed;
  let api: CordonClient;
  let base: string;
  let adminPassword: string;
  let meId: string;
  let busyId: string;
  let twinId: string;

  /**
   * Enrolls a simulated device over the real gateway. `stay` keeps it connected (heartbeats every
   * 10 s) and answers each action with an acknowledgement and progress, never a result.
   */
  async function simDevice(agentUrl: string, token: string, inv: Inventory, stay: boolean): Promise<string> {
    const dir = tempDir('console-nav-sim');
    dirs.push(dir);
    const state = await enroll(agentUrl, token, dir, inv);
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${agentUrl.replace(/^https/, 'wss')}/agent/v1`, {
        ca: state.caCertPem,
        checkServerIdentity: (() => undefined) as unknown as () => boolean,
        headers: { authorization: `Bearer ${state.machineId}.${state.credential}` },
      });
      let seq = 0;
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inv })));
      ws.on('message', (data) => {
        const frame = JSON.parse(String(data)) as { type: string; command?: { payload: string } };
        if (frame.type === 'welcome') {
          if (!stay) ws.close();
          else {
            sockets.push(ws);
            const beat = setInterval(() => ws.readyState === WebSocket.OPEN && ws.send(JSON.stringify({ type: 'heartbeat', seq: seq++ })), 10_000);
            ws.on('close', () => clearInterval(beat));
          }
          resolve();
        }
        if (frame.type === 'command' && frame.command) {
          const { actionId } = JSON.parse(frame.command.payload) as { actionId: string };
          ws.send(JSON.stringify({ type: 'ack', actionId }));
          ws.send(JSON.stringify({ type: 'progress', actionId, percent: 29, message: 'Collecting Processes (5/13)' }));
        }
      });
      ws.on('error', reject);
    });
    return state.machineId;
  }

  const open = (opts: { colorScheme?: 'light' | 'dark'; width?: number } = {}): Promise<TestPage> => bed.page({ colorScheme: opts.colorScheme, viewport: { width: opts.width ?? 1280, height: 800 } });

  /** The page's problems, less the failed loads of this server's API the test provoked (status and path). */
  function unexpected(t: TestPage, expected: { status: number; path: string }[] = []): string[] {
    return t.problems().filter((p) => {
      const m = /^console: Failed to load resource: the server responded with a status of (\d+) \([^)]*\) \((.+):0\)$/.exec(p);
      if (!m?.[2]?.startsWith(`${base}/`)) return true;
      const path = new URL(m[2]).pathname;
      return !expected.some((e) => e.status === Number(m[1]) && e.path === path);
    });
  }

  beforeAll(async () => {
    bed = await startConsoleBed('console-nav', dirs, { pageTimeoutMs: WAIT });
    ({ api, base, adminPassword } = bed);
    const { agentUrl, enrollment } = bed;
    // A heartbeat every second: the server writes "last seen" every 5 s, so it visibly moves.
    meId = (await bed.startAgent({ CORDON_AGENT_HEARTBEAT_SECONDS: '1' })).machineId;

    [busyId, twinId] = await Promise.all([simDevice(agentUrl, enrollment, simInventory(busyName, '198.51.100.20'), true), simDevice(agentUrl, enrollment, simInventory(twinName, '198.51.100.21'), false)]);
    for (const tag of TAGS) await api.tag(busyId, tag, 'Add');
    const running = await api.submit(busyId, 'collectInvestigationPackage', { Comment: 'e2e: stays in progress' });
    await until('the simulated device to report progress', async () => (await api.action(running.id)).status === 'InProgress', WAIT);
    await bed.online(meId);
  }, 240_000);

  afterAll(async () => {
    try {
      for (const ws of sockets) ws.close();
    } finally {
      await bed?.close();
    }
  }, 60_000);

  it('a first visit to / offers a plain sign-in; a deep link says it will continue there', async () => {
    const t = await open();
    const { page } = t;
    await page.goto('/');
    await page.waitForURL((u) => u.pathname === '/signin');
    await page.getByRole('button', { name: 'Sign in' }).waitFor();
    expect(new URL(page.url()).searchParams.has('next')).toBe(false);
    expect(await page.getByText('continue where you were').count()).toBe(0);
    await screenshot(page, 'console-nav-first-visit');

    await page.goto(`/devices/${busyId}`);
    await page.waitForURL((u) => u.pathname === '/signin' && u.searchParams.get('next') === `/devices/${busyId}`);
    await page.getByText('Sign in to continue where you were.').waitFor();
    expect(unexpected(t, [{ status: 401, path: '/api/auth/me' }])).toEqual([]);
  }, 60_000);

  it('Enter in the search box opens the best match at once; with no match it says so and stays', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/devices');
    const search = page.getByTestId('device-search');
    // Typed and entered at once: no arrow key, no click, no waiting for the suggestions.
    await search.fill(busyName);
    await search.press('Enter');
    await page.waitForURL((u) => u.pathname === `/devices/${busyId}`);
    await expect.poll(() => page.getByTestId('device-name').textContent()).toBe(busyName);

    // The twin's full name: the exact match, although the other device sorts first.
    await search.fill(twinName.toUpperCase());
    await page.getByRole('option', { name: `${twinName} — 198.51.100.21`, exact: true }).waitFor();
    await search.press('Enter');
    await page.waitForURL((u) => u.pathname === `/devices/${twinId}`);

    // A new term never offers the previous term's suggestions (Enter would open one of those).
    await search.fill(twinName.toUpperCase());
    const twinOption = page.getByRole('option', { name: `${twinName} — 198.51.100.21`, exact: true });
    await twinOption.waitFor();
    await search.fill(`no-such-device-${hex}`);
    expect(await twinOption.count()).toBe(0);
    await search.press('Enter');
    await page.getByText(`No device matches “no-such-device-${hex}”`).waitFor();
    await screenshot(page, 'console-nav-search-no-match');
    expect(new URL(page.url()).pathname).toBe(`/devices/${twinId}`);
    expect(unexpected(t)).toEqual([]);
  }, 60_000);

  it('"Last seen" ticks on an open page and follows the API as heartbeats move it', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    // The simulated device: its last seen stays put, so only the clock can change the words.
    await page.goto(`/devices/${busyId}`);
    const lastSeen = page.getByTestId('last-seen');
    const first = (await lastSeen.textContent())!;
    expect(first).toMatch(/ago|now/);
    await expect.poll(() => lastSeen.textContent(), { timeout: 5_000 }).not.toBe(first);

    // This machine's agent beats every second: the page picks up the API's newer value.
    await page.goto(`/devices/${meId}`);
    const shown = (await lastSeen.getAttribute('datetime'))!;
    expect(Date.parse(shown)).not.toBeNaN();
    await expect.poll(() => lastSeen.getAttribute('datetime'), { timeout: 20_000 }).not.toBe(shown);
    expect(Date.parse((await lastSeen.getAttribute('datetime'))!)).toBeGreaterThan(Date.parse(shown));
    expect(unexpected(t)).toEqual([]);
  }, 60_000);

  it('an unknown device says "No such device", with a way back to Devices', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    const unknown = 'f'.repeat(40);
    await page.goto(`/devices/${unknown}`);
    await page.getByText('No such device', { exact: true }).waitFor();
    expect(await page.getByText('Could not load this').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Try again' }).count()).toBe(0);
    await screenshot(page, 'console-nav-no-such-device');
    await page.getByRole('link', { name: 'Back to the devices list' }).click();
    await page.waitForURL((u) => u.pathname === '/devices');
    expect(unexpected(t, [{ status: 404, path: `/api/machines/${unknown}` }])).toEqual([]);
  }, 60_000);

  it('finds a device by any part of a tag, in any case: the header search and the devices list', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/devices');
    const search = page.getByTestId('device-search');
    await search.fill('UX');
    await page.getByRole('option', { name: `${busyName} — 198.51.100.20`, exact: true }).waitFor();
    await search.press('Escape');

    await page.goto('/devices?tag=Ux');
    const table = page.getByTestId('devices-table');
    await table.getByRole('link', { name: busyName, exact: true }).waitFor();
    expect(await table.getByRole('link', { name: twinName, exact: true }).count()).toBe(0);
    expect(unexpected(t)).toEqual([]);
  }, 60_000);

  for (const width of [1280, 1440]) {
    for (const colorScheme of ['light', 'dark'] as const) {
      it(`at ${width} px (${colorScheme}) the action bar is one row, unavailable actions drawn light; statuses read as said; Action center dates on one line`, async () => {
        const t = await open({ colorScheme, width });
        const { page } = t;
        await signIn(page, 'admin', adminPassword);
        await page.goto(`/devices/${busyId}`);
        const bar = page.getByTestId('action-bar');
        await bar.locator('[data-action="Isolate"]').waitFor();
        // Twelve tags: eight shown, the rest behind "+4 more".
        await page.getByTestId('device-header').getByText('team-payments-europe-1', { exact: true }).waitFor();
        expect(await page.getByTestId('more-tags').textContent()).toBe(`+${TAGS.length - 8} more`);

        // Every button in the bar (the "more" menu's too) sits on one row.
        const tops = await bar.locator('button').evaluateAll((els) => els.filter((e) => e.getBoundingClientRect().width > 0).map((e) => Math.round(e.getBoundingClientRect().top)));
        expect(tops.length).toBeGreaterThanOrEqual(4);
        expect(new Set(tops).size, `button tops ${tops.join(', ')}`).toBe(1);
        await screenshot(page, `console-device-${width}-${colorScheme}`);

        // An unavailable action is light: no filled box behind it.
        const unavailable = bar.locator('[data-action][aria-disabled="true"]');
        if ((await unavailable.count()) === 0) {
          await bar.getByRole('button', { name: 'More actions' }).click();
          const item = page.getByRole('menuitem', { disabled: true }).first();
          await item.waitFor();
          expect(await item.innerText()).toMatch(/\n/); // its label, then why not
          await page.keyboard.press('Escape');
        } else {
          expect(await unavailable.first().evaluate((e) => (globalThis as unknown as { getComputedStyle(e: unknown): { backgroundColor: string } }).getComputedStyle(e).backgroundColor)).toBe('rgba(0, 0, 0, 0)');
        }

        await page.getByRole('tab', { name: 'Actions' }).click();
        const status = page.getByTestId('device-actions-table').getByTestId('action-status').first();
        await expect.poll(() => status.textContent()).toBe('In progress');

        await page.goto('/actions');
        const table = page.getByTestId('actions-table');
        await table.getByTestId('action-status').filter({ hasText: 'In progress' }).first().waitFor();
        await screenshot(page, `console-action-center-${width}-${colorScheme}`);
        // The date cells hold one line each; the header "Last updated" is shown whole.
        const lines = await table.locator('tbody td[data-date]').evaluateAll((cells) =>
          cells.map((c) => {
            // Typed locally: the tests compile without the DOM library.
            type Rect = { top: number };
            const r = (globalThis as unknown as { document: { createRange(): { selectNodeContents(n: unknown): void; getClientRects(): Iterable<Rect> } } }).document.createRange();
            r.selectNodeContents(c);
            return new Set([...r.getClientRects()].map((x) => Math.round(x.top))).size;
          }),
        );
        expect(lines.length).toBeGreaterThanOrEqual(2);
        expect(lines.every((n) => n === 1), `lines per date cell: ${lines.join(', ')}`).toBe(true);
        const header = table.locator('thead th', { hasText: 'Last updated' });
        expect((await header.innerText()).trim()).toBe('Last updated');
        expect(await header.evaluate((th) => [th, ...th.querySelectorAll('*')].some((e) => e.scrollWidth > e.clientWidth + 1))).toBe(false);
        // The filters, "To" included, share one row.
        const filterTops = await page.getByTestId('action-filters').locator('label').evaluateAll((els) => els.map((e) => Math.round(e.getBoundingClientRect().top)));
        expect(filterTops).toHaveLength(6);
        if (width >= 1440) expect(new Set(filterTops).size, `filter tops ${filterTops.join(', ')}`).toBe(1);
        expect(unexpected(t)).toEqual([]);
      }, 60_000);
    }
  }
});
