/**
 * The web console on a fleet: a real `cordon server` and 55 simulated devices enrolled over the
 * real gateway with inventories of the test's choosing (no agent behind them, so nothing runs on
 * this machine). Risk, isolation and last-seen times are set on the server's store by hand, as no
 * agent would report them on cue. Covers what a first hour on a fleet uses: sorting, filters and
 * paging of the devices list, bulk tags and search by tag, the timeline's filter and pages, the
 * Action center's filters other than status, the live-updates badge across a server restart, and
 * the theme switch.
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_VERSION, enroll } from '@cordon/agent';
import { CordonClient } from '@cordon/cli/client';
import type { Inventory } from '@cordon/protocol';
import { buildConsoleIfStale, launchBrowser, newPage, screenshot, signIn, type TestPage } from './browser.js';
import { cleanup, cordon, CordonProcess, freePort, REAL, requireReal, tempDir } from './helpers.js';

const WAIT = 30_000;
const FLEET = 55;
/** The devices list shows this many per page. */
const PAGE_SIZE = 50;
const name = (i: number) => `fleet-${String(i).padStart(2, '0')}`;
const ip = (i: number) => `198.51.100.${100 + i}`;
const MINUTE = 60_000;
/** Last seen: a permutation of minutes ago, so no sort order happens to be the name order. */
const minutesAgo = (i: number) => (i * 17 + 5) % FLEET;
const INACTIVE = [50, 51, 52, 53, 54];
const HIGH_RISK = [3, 7];
const ISOLATED = [5];

function inventory(i: number): Inventory {
  return {
    hostname: name(i),
    osPlatform: 'Linux',
    osVersion: 'Debian GNU/Linux 12 (bookworm)',
    osProcessor: 'x64',
    kernel: '6.1.0-sim',
    ipAddresses: [{ address: ip(i), family: 'IPv4', interface: 'eth0', mac: null }],
    agentVersion: AGENT_VERSION,
    capabilities: [
      { name: 'inventory', version: '1' },
      { name: 'investigationPackage', version: '1' },
    ],
    deviceTags: [],
  };
}

/** The datetime-local value of a time (the browser runs in this process's time zone). */
function localInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

describe('web console on a fleet', () => {
  beforeAll(() => void requireReal(REAL.chromium));
  const dirs: string[] = [];
  let server: CordonProcess;
  let serverDir: string;
  let serverArgs: string[];
  let browser: Browser;
  let api: CordonClient;
  let base: string;
  let adminPassword: string;
  /** Machine ids by fleet index. */
  const ids: string[] = [];
  const pages: TestPage[] = [];
  const now = Date.now();

  const startServer = async () => {
    server = new CordonProcess(serverArgs, { CORDON_RATE_LIMIT_PER_MINUTE: '0', CORDON_LOG_LEVEL: 'warn', CORDON_HEARTBEAT_SECONDS: '3600' });
    await server.line(/^agents: (.+)$/m, 60_000);
  };

  async function open(opts: { colorScheme?: 'light' | 'dark' } = {}): Promise<TestPage> {
    const t = await newPage(browser, { baseURL: base, ...opts });
    t.page.setDefaultTimeout(WAIT);
    pages.push(t);
    await signIn(t.page, 'admin', adminPassword);
    return t;
  }

  /** The device names in the devices table, top to bottom. */
  const shownDevices = (page: Page) => page.getByTestId('devices-table').locator('tbody tr a').allTextContents();
  const expectDevices = (page: Page, names: string[]) => expect.poll(() => shownDevices(page), { timeout: WAIT }).toEqual(names);

  beforeAll(async () => {
    await buildConsoleIfStale();
    serverDir = tempDir('fleet-server');
    dirs.push(serverDir);
    const port = await freePort();
    const agentPort = await freePort();
    serverArgs = ['server', '--data-dir', serverDir, '--host', '127.0.0.1', '--port', String(port), '--agent-host', '127.0.0.1', '--agent-port', String(agentPort)];
    await startServer();
    const token = await server.line(/^admin token: (\S+)$/m);
    adminPassword = await server.line(/^admin password: (\S+)/m);
    base = `http://127.0.0.1:${port}`;
    api = new CordonClient(base, token);

    const enrollment = (await cordon(['enrollment-token', 'create', '--data-dir', serverDir])).stdout.trim();
    const simDirs = tempDir('fleet-sims');
    dirs.push(simDirs);
    for (let i = 0; i < FLEET; i += 11) {
      const batch = Array.from({ length: Math.min(11, FLEET - i) }, (_, k) => i + k);
      const states = await Promise.all(batch.map((j) => enroll(`https://127.0.0.1:${agentPort}`, enrollment, join(simDirs, name(j)), inventory(j))));
      states.forEach((s, k) => (ids[batch[k]!] = s.machineId));
    }

    // What no agent reports on cue: risk, isolation and when each device was last seen.
    const db = new Database(join(serverDir, 'cordon.db'));
    db.pragma('busy_timeout = 10000');
    try {
      const seen = db.prepare('update machines set last_seen = ? where id = ?');
      for (let i = 0; i < FLEET; i++) seen.run(new Date(now - (INACTIVE.includes(i) ? 2 * 24 * 60 : minutesAgo(i)) * MINUTE - i * 1000).toISOString(), ids[i]);
      for (const i of HIGH_RISK) db.prepare("update machines set risk_score = 'High' where id = ?").run(ids[i]);
      db.prepare("update machines set risk_score = 'Medium' where id = ?").run(ids[11]);
      for (const i of ISOLATED) db.prepare("update machines set isolation_state = 'Isolated' where id = ?").run(ids[i]);
    } finally {
      db.close();
    }
    browser = await launchBrowser();
  }, 240_000);

  afterAll(async () => {
    for (const t of pages) await t.close().catch(() => undefined);
    await browser?.close();
    await server?.kill('SIGKILL');
    cleanup(dirs);
  }, 90_000);

  it('sorts the devices by name and by last seen, and pages through them', async () => {
    const t = await open();
    const { page } = t;
    const byName = Array.from({ length: FLEET }, (_, i) => name(i));
    await page.goto('/devices');
    await expectDevices(page, byName.slice(0, PAGE_SIZE));
    await page.getByTestId('devices-table').getByRole('button', { name: '2', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('page') === '2');
    await expectDevices(page, byName.slice(PAGE_SIZE));
    await screenshot(page, 'console-fleet-page-2');

    // A new sort starts at page 1.
    const table = page.getByTestId('devices-table');
    await table.getByText('Device name', { exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('dir') === 'desc' && !u.searchParams.has('page'));
    await expectDevices(page, [...byName].reverse().slice(0, PAGE_SIZE));

    const lastSeen = (i: number) => (INACTIVE.includes(i) ? 2 * 24 * 60 : minutesAgo(i)) * MINUTE + i * 1000;
    const newestFirst = Array.from({ length: FLEET }, (_, i) => i).sort((a, b) => lastSeen(a) - lastSeen(b));
    const order = { asc: [...newestFirst].reverse().slice(0, PAGE_SIZE).map(name), desc: newestFirst.slice(0, PAGE_SIZE).map(name) };
    const dir = () => (new URL(page.url()).searchParams.get('dir') === 'desc' ? 'desc' : 'asc');
    await table.getByText('Last seen', { exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('sort') === 'lastSeen');
    const first = dir();
    await expectDevices(page, order[first]);
    // Clicking again turns the order round.
    await table.getByText('Last seen', { exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('sort') === 'lastSeen' && (u.searchParams.get('dir') === 'desc' ? 'desc' : 'asc') !== first);
    await expectDevices(page, order[dir()]);
    await screenshot(page, 'console-fleet-last-seen');
    // The sort is in the address: a reload keeps it.
    await page.reload();
    await expectDevices(page, order[dir()]);
    expect(t.problems()).toEqual([]);
  }, 120_000);

  it('filters the devices by health, risk and isolation, and keeps the filters in the address', async () => {
    const t = await open();
    const { page } = t;
    await page.goto('/devices');
    await expectDevices(page, Array.from({ length: PAGE_SIZE }, (_, i) => name(i)));
    const filters = page.getByTestId('device-filters');

    await filters.getByLabel('Health', { exact: true }).click();
    await page.getByRole('option', { name: 'Inactive', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('health') === 'Inactive');
    await expectDevices(page, INACTIVE.map(name));
    await filters.getByLabel('Health', { exact: true }).click();
    await page.getByRole('option', { name: 'Active', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('health') === 'Active');
    await expect.poll(async () => (await shownDevices(page)).length, { timeout: WAIT }).toBe(PAGE_SIZE);
    expect(await shownDevices(page)).not.toContain(name(INACTIVE[0]!));

    await page.goto('/devices');
    await filters.getByRole('combobox', { name: 'Risk', exact: true }).click({ force: true });
    await page.getByRole('option', { name: 'High', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('risk') === 'High');
    await page.keyboard.press('Escape');
    await expectDevices(page, HIGH_RISK.map(name));
    await filters.getByRole('combobox', { name: 'Risk', exact: true }).click({ force: true });
    await page.getByRole('option', { name: 'Medium', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('risk') === 'High,Medium');
    await page.keyboard.press('Escape');
    await expectDevices(page, [...HIGH_RISK, 11].map(name));
    await screenshot(page, 'console-fleet-risk');

    await page.goto('/devices');
    await filters.getByLabel('Isolation', { exact: true }).click();
    await page.getByRole('option', { name: 'Isolated', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('isolation') === 'Isolated');
    await expectDevices(page, ISOLATED.map(name));

    // Filters combine, and a shared address shows the same view.
    await page.goto('/devices?health=Inactive&risk=High');
    await page.getByTestId('devices-table').getByText('No device matches these filters').waitFor();
    expect(t.problems()).toEqual([]);
  }, 120_000);

  it('adds a tag to the selected devices at once, and the header search finds them by that tag', async () => {
    const t = await open();
    const { page } = t;
    const tag = `ir-${randomBytes(3).toString('hex')}`;
    const chosen = [12, 13, 14];
    await page.goto('/devices');
    const table = page.getByTestId('devices-table');
    await expectDevices(page, Array.from({ length: PAGE_SIZE }, (_, i) => name(i)));
    for (const i of chosen) await table.locator('tbody tr').filter({ has: page.getByRole('link', { name: name(i), exact: true }) }).getByRole('checkbox').check();
    await page.getByRole('button', { name: /^Add tag \(3\)$/ }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('textbox', { name: 'Tag' }).fill(tag);
    await dialog.getByRole('button', { name: 'Add tag' }).click();
    await dialog.waitFor({ state: 'hidden' });
    for (let i = 0; i < FLEET; i++) expect((await api.machine(ids[i]!)).machineTags.includes(tag), name(i)).toBe(chosen.includes(i));
    // The list shows the new tags, and the selection is cleared.
    await expect.poll(() => table.locator('tbody tr').filter({ hasText: tag }).count(), { timeout: WAIT }).toBe(3);
    expect(await page.getByRole('button', { name: /^Add tag$/ }).count()).toBe(1);

    await page.getByRole('textbox', { name: 'Tag' }).fill(tag);
    await page.waitForURL((u) => u.searchParams.get('tag') === tag);
    await expectDevices(page, chosen.map(name));

    const search = page.getByTestId('device-search');
    await search.fill(tag);
    const options = page.getByRole('option');
    await expect.poll(async () => (await options.allTextContents()).map((o) => o.split(' — ')[0]).sort(), { timeout: WAIT }).toEqual(chosen.map(name));
    await screenshot(page, 'console-fleet-search-tag');
    await page.getByRole('option', { name: new RegExp(`^${name(13)}\\b`) }).click();
    await page.waitForURL((u) => u.pathname === `/devices/${ids[13]}`);
    expect(t.problems()).toEqual([]);
  }, 120_000);

  it("filters a device's timeline by event type and pages through it", async () => {
    const id = ids[30]!;
    // 30 tags: 30 "Tag added" events after the enrollment, 31 in all (25 a page).
    for (let k = 0; k < 30; k++) await api.tag(id, `t${String(k).padStart(2, '0')}`, 'Add');
    const all = await api.timeline(id, 100);
    expect(all).toHaveLength(31);
    const t = await open();
    const { page } = t;
    await page.goto(`/devices/${id}`);
    const rows = page.getByTestId('timeline-table').locator('tbody tr');
    const older = page.getByRole('button', { name: 'Older' });
    const newer = page.getByRole('button', { name: 'Newer' });
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(25);
    expect(await newer.isDisabled()).toBe(true);
    await expect.poll(() => rows.first().textContent(), { timeout: WAIT }).toContain(all[0]!.title);
    await older.click();
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(6);
    expect(await older.isDisabled()).toBe(true);
    await expect.poll(() => rows.last().textContent(), { timeout: WAIT }).toMatch(/enrolled/i);
    await screenshot(page, 'console-fleet-timeline-page-2');
    await newer.click();
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(25);

    await page.getByRole('combobox', { name: 'Event types', exact: true }).click({ force: true });
    await page.getByRole('option', { name: 'Agent enrolled', exact: true }).click();
    await page.keyboard.press('Escape');
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(1);
    expect(await rows.first().textContent()).toMatch(/enrolled/i);
    expect(await older.isDisabled()).toBe(true);
    await page.getByRole('combobox', { name: 'Event types', exact: true }).click({ force: true });
    await page.getByRole('option', { name: 'Tag added', exact: true }).click();
    await page.keyboard.press('Escape');
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(25);
    await older.click();
    await expect.poll(() => rows.count(), { timeout: WAIT }).toBe(6);
    expect(t.problems()).toEqual([]);
  }, 120_000);

  it('filters the Action center by action, device, submitter and dates', async () => {
    const responderToken = (await cordon(['token', 'create', '--role', 'responder', '--name', 'Rhea Responder', '--data-dir', serverDir])).stdout.trim();
    const responder = new CordonClient(base, responderToken);
    // Offline devices: every action stays Pending.
    const old = await api.submit(ids[40]!, 'refreshInventory', { Comment: 'fleet: an old refresh' });
    const pkg = await api.submit(ids[41]!, 'collectInvestigationPackage', { Comment: 'fleet: a package' });
    const theirs = await responder.submit(ids[42]!, 'refreshInventory', { Comment: 'fleet: the responder refreshes' });
    const db = new Database(join(serverDir, 'cordon.db'));
    db.pragma('busy_timeout = 10000');
    try {
      db.prepare('update actions set created_at = ? where id = ?').run(new Date(now - 3 * 24 * 60 * MINUTE).toISOString(), old.id);
    } finally {
      db.close();
    }
    const t = await open();
    const { page } = t;
    // Each action is on a device of its own: the rows' device names tell which are shown.
    const shown = async () => (await page.getByTestId('actions-table').locator('tbody tr').allTextContents()).map((r) => /fleet-\d\d/.exec(r)?.[0] ?? r);
    const deviceOf = new Map([old, pkg, theirs].map((a) => [a.requestorComment, a.computerDnsName]));
    const expectShown = (comments: string[]) => expect.poll(async () => (await shown()).sort(), { timeout: WAIT }).toEqual(comments.map((c) => deviceOf.get(c)).sort());
    const filters = page.getByTestId('action-filters');
    await page.goto('/actions');
    await expectShown([old, pkg, theirs].map((a) => a.requestorComment));

    await filters.getByRole('combobox', { name: 'Action', exact: true }).click({ force: true });
    await page.getByRole('option', { name: /investigation package/i }).click();
    await page.keyboard.press('Escape');
    await page.waitForURL((u) => u.searchParams.get('type') === 'CollectInvestigationPackage');
    await expectShown([pkg.requestorComment]);

    await page.goto('/actions');
    await filters.getByRole('textbox', { name: 'Device' }).fill(name(42));
    await page.waitForURL((u) => u.searchParams.get('device') === name(42));
    await expectShown([theirs.requestorComment]);

    await page.goto('/actions');
    await filters.getByRole('textbox', { name: 'Submitted by' }).fill(theirs.requestor);
    await page.waitForURL((u) => u.searchParams.get('user') === theirs.requestor);
    await expectShown([theirs.requestorComment]);
    expect(theirs.requestor).not.toBe(old.requestor);

    await page.goto('/actions');
    await filters.getByLabel('From', { exact: true }).fill(localInput(now - 24 * 60 * MINUTE));
    await page.waitForURL((u) => u.searchParams.has('from'));
    await expectShown([pkg, theirs].map((a) => a.requestorComment));
    await page.goto('/actions');
    await filters.getByLabel('To', { exact: true }).fill(localInput(now - 24 * 60 * MINUTE));
    await page.waitForURL((u) => u.searchParams.has('to'));
    await expectShown([old.requestorComment]);
    await screenshot(page, 'console-fleet-actions-to');
    expect(t.problems()).toEqual([]);
  }, 120_000);

  it('switches between light and dark theme, and the choice survives a reload', async () => {
    const t = await open({ colorScheme: 'light' });
    const { page } = t;
    const scheme = () => page.locator('html').getAttribute('data-mantine-color-scheme');
    await page.goto('/devices');
    await expect.poll(scheme, { timeout: WAIT }).toBe('light');
    const background = () => page.evaluate('getComputedStyle(document.body).backgroundColor') as Promise<string>;
    const light = await background();
    await page.getByRole('button', { name: 'Toggle colour theme' }).click();
    await expect.poll(scheme, { timeout: WAIT }).toBe('dark');
    expect(await background()).not.toBe(light);
    await page.reload();
    await page.getByTestId('devices-table').locator('tbody tr').first().waitFor();
    expect(await scheme()).toBe('dark');
    await screenshot(page, 'console-fleet-dark');
    await page.getByRole('button', { name: 'Toggle colour theme' }).click();
    await expect.poll(scheme, { timeout: WAIT }).toBe('light');
    await page.reload();
    await page.getByTestId('devices-table').locator('tbody tr').first().waitFor();
    expect(await scheme()).toBe('light');
    expect(t.problems()).toEqual([]);
  }, 60_000);

  // Last: it restarts the server.
  it('shows "Reconnecting" while the server is down and "Live" again once it is back', async () => {
    const t = await open();
    const { page } = t;
    await page.goto('/');
    const badge = page.getByTestId('live-state');
    await badge.filter({ hasText: /^Live$/ }).waitFor();
    await server.kill('SIGKILL');
    await badge.filter({ hasText: /^Reconnecting$/ }).waitFor();
    await screenshot(page, 'console-fleet-reconnecting');
    await startServer();
    await badge.filter({ hasText: /^Live$/ }).waitFor({ timeout: 60_000 });
    // Still signed in, with data from the restarted server.
    expect(new URL(page.url()).pathname).toBe('/');
    // Requests made while the server was down failed; those are expected here.
    expect(t.problems().filter((p) => !/net::ERR_CONNECTION_REFUSED|Failed to load resource|EventSource/.test(p))).toEqual([]);
  }, 120_000);
});
