/**
 * The web console in a real browser (Debian's chromium) against a real `cordon server` and a real
 * agent on this machine, plus two simulated devices that enroll over the real gateway with an
 * inventory of the test's choosing and then disconnect: an offline device (for a pending action to
 * cancel) and one whose hostname is an HTML injection attempt.
 *
 * Every page is checked for console errors, page errors and CSP violations; the only expected one
 * is the 401 of `GET /api/auth/me` that tells a signed-out console to show sign-in (and, where a
 * test provokes them on purpose, the 401s it names). Screenshots of every page visited land in
 * e2e/.artifacts/screenshots/console-*.png.
 *
 * Nothing here changes this machine: the real agent only collects an investigation package (it
 * reads) and refreshes its inventory; requests that would isolate are only ever aimed at the
 * simulated device, which has no agent behind it.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Download, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_VERSION, enroll } from '@cordon/agent';
import { CordonClient, type Machine } from '@cordon/cli/client';
import { packageFileName, PROTOCOL_VERSION, type Inventory } from '@cordon/protocol';
import { screenshot, signIn, startConsoleBed, type ConsoleBed, type TestPage } from './browser.js';
import { ownWalkRoots, ROOT, tempDir, until } from './helpers.js';

/** Waits for things that take real work (agent round trips, a package collection) are generous; assertions are not. */
const WAIT = 30_000;
const LONG_WAIT = 120_000;
const HOSTILE = '<img src=x onerror=alert(1)>';
const FORMULA = '=HYPERLINK("x")';

/** A minimal RFC 4180 reader, independent of the console's CSV writer. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell !== '' || row.length) rows.push([...row, cell]);
  return rows;
}

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

describe('web console', () => {
  const dirs: string[] = [];
  let bed: ConsoleBed;
  let api: CordonClient;
  let base: string;
  let adminPassword: string;
  const viewer = { username: 'vera.viewer', password: `viewer-${randomBytes(9).toString('base64url')}` };
  /** The real machine running this test, and two simulated devices (offline). */
  let me: Machine;
  let offlineId: string;
  let hostileId: string;
  let revokedId: string;
  const revokedName = `stolen-sim-${randomBytes(3).toString('hex')}`;
  const offlineName = `offline-sim-${randomBytes(3).toString('hex')}`;

  /** Enrolls a device over the real gateway, says hello once with its inventory, and disconnects. */
  async function simDevice(agentUrl: string, token: string, inv: Inventory): Promise<string> {
    const dir = tempDir('console-sim');
    dirs.push(dir);
    const state = await enroll(agentUrl, token, dir, inv);
    await new Promise<void>((resolve, reject) => {
      const ws = new WebSocket(`${agentUrl.replace(/^https/, 'wss')}/agent/v1`, {
        ca: state.caCertPem,
        checkServerIdentity: (() => undefined) as unknown as () => boolean,
        headers: { authorization: `Bearer ${state.machineId}.${state.credential}` },
      });
      ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', protocol: PROTOCOL_VERSION, inventory: inv })));
      ws.on('message', (data) => {
        if ((JSON.parse(String(data)) as { type: string }).type !== 'welcome') return;
        ws.close();
        resolve();
      });
      ws.on('error', reject);
    });
    await until('the simulated device to be offline', async () => !(await api.machine(state.machineId)).isConnected, WAIT);
    return state.machineId;
  }

  /** A page of its own (own cookies), closed after the file. */
  const open = (opts: { colorScheme?: 'light' | 'dark' } = {}): Promise<TestPage> => bed.page(opts);

  /** The page's problems, less the 401s of the given API paths (this server, exact paths), which the test expects. */
  function unexpected(t: TestPage, expected401: string[] = []): string[] {
    return t.problems().filter((p) => {
      const url = /^console: Failed to load resource: the server responded with a status of 401 \(Unauthorized\) \((.+):0\)$/.exec(p)?.[1];
      return !(url?.startsWith(`${base}/`) && expected401.includes(new URL(url).pathname));
    });
  }

  async function signInWithForm(page: Page, username: string, password: string): Promise<void> {
    await page.getByRole('textbox', { name: 'User name' }).fill(username);
    await page.getByRole('textbox', { name: 'Password' }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  /** Clicks and answers the download it starts, saved; and its first bytes. */
  async function download(page: Page, button: Locator): Promise<{ d: Download; bytes: Buffer }> {
    const [d] = await Promise.all([page.waitForEvent('download', { timeout: WAIT }), button.click()]);
    const file = await d.path();
    return { d, bytes: readFileSync(file) };
  }

  /** Marks the document, so a later check proves the page was never reloaded. */
  const markDocument = (page: Page) => page.evaluate('globalThis.__cordonNoReload = true');
  const stillSameDocument = (page: Page) => page.evaluate('globalThis.__cordonNoReload === true');

  beforeAll(async () => {
    // No locator action or wait may hang a test: each gives up after WAIT unless told otherwise.
    bed = await startConsoleBed('console', dirs, { pageTimeoutMs: WAIT });
    ({ api, base, adminPassword } = bed);
    const { serverDir, agentUrl, enrollment } = bed;
    const { machineId } = await bed.startAgent(ownWalkRoots(dirs));

    // A viewer account, made the way an admin would: the CLI on the server's data directory.
    const created = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(process.execPath, [join(ROOT, 'packages', 'cli', 'bin', 'cordon.mjs'), 'user', 'create', '--username', viewer.username, '--role', 'viewer', '--password-stdin', '--data-dir', serverDir], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      p.stdout.on('data', (d: Buffer) => (out += d.toString()));
      p.stderr.on('data', (d: Buffer) => (out += d.toString()));
      p.on('exit', (code) => resolve({ code, out }));
      p.stdin.end(`${viewer.password}\n`);
    });
    expect(created.code, created.out).toBe(0);

    [offlineId, hostileId, revokedId] = await Promise.all([
      simDevice(agentUrl, enrollment, simInventory(offlineName, '198.51.100.7')),
      simDevice(agentUrl, enrollment, simInventory(HOSTILE, '198.51.100.66')),
      simDevice(agentUrl, enrollment, simInventory(revokedName, '198.51.100.9')),
    ]);
    me = await bed.online(machineId);
  }, 240_000);

  afterAll(() => bed?.close(), 90_000);

  it('sends a signed-out visitor to sign-in, shows the API error for a wrong password, and returns to the page after signing in', async () => {
    const t = await open();
    const { page } = t;
    const messages: string[] = [];
    page.on('console', (m) => messages.push(m.text()));
    await page.goto('/devices');
    await page.waitForURL((u) => u.pathname === '/signin', { timeout: WAIT });
    expect(new URL(page.url()).searchParams.get('next')).toBe('/devices');
    await expect.poll(() => page.getByRole('button', { name: 'Sign in' }).isVisible(), { timeout: WAIT }).toBe(true);
    await screenshot(page, 'console-signin');

    const refusal = await fetch(`${base}/api/auth/signin`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: 'not-the-password' }) });
    expect(refusal.status).toBe(401);
    const apiMessage = ((await refusal.json()) as { error: { message: string } }).error.message;
    await signInWithForm(page, 'admin', 'also-not-the-password');
    const error = page.getByTestId('signin-error');
    await error.waitFor({ timeout: WAIT });
    expect((await error.textContent())?.trim()).toBe(apiMessage);
    expect(new URL(page.url()).pathname).toBe('/signin');
    await screenshot(page, 'console-signin-error');

    await page.getByRole('textbox', { name: 'Password' }).fill(adminPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/devices', { timeout: WAIT });
    await page.getByTestId('devices-table').getByRole('link', { name: me.computerDnsName, exact: true }).waitFor({ timeout: WAIT });
    await screenshot(page, 'console-devices');
    // The console is served as a production build (React's development build says this).
    expect(messages.filter((m) => m.includes('React DevTools'))).toEqual([]);
    expect(unexpected(t, ['/api/auth/me', '/api/auth/signin'])).toEqual([]);
  }, 90_000);

  it('finds this machine with the header search and shows its name, OS, agent version and addresses', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/');
    await page.getByTestId('card-pending').waitFor({ timeout: WAIT });
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor({ timeout: WAIT });
    await screenshot(page, 'console-dashboard');

    const host = hostname();
    expect(me.computerDnsName).toBe(host);
    const search = page.getByTestId('device-search');
    await search.fill(host.length > 1 ? host.slice(0, -1) : host);
    const option = page.getByRole('option', { name: me.lastIpAddress ? `${host} — ${me.lastIpAddress}` : host, exact: true });
    await option.waitFor({ timeout: WAIT });
    await screenshot(page, 'console-search');
    await option.click();
    await page.waitForURL((u) => u.pathname === `/devices/${me.id}`, { timeout: WAIT });

    const header = page.getByTestId('device-header');
    await expect.poll(() => page.getByTestId('device-name').textContent(), { timeout: WAIT }).toBe(host);
    const osRelease = /^PRETTY_NAME="?([^"\n]*)"?$/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1];
    const text = (await header.innerText()).replace(/\s+/g, ' ');
    expect(text).toContain(`Linux ${osRelease}`);
    expect(text).toContain(`Agent version ${AGENT_VERSION}`);
    // This machine's own addresses (loopback says nothing about where a device is).
    const addresses = Object.values(networkInterfaces()).flatMap((a) => a ?? []).filter((a) => !a.internal).map((a) => a.address.split('%')[0]!);
    expect(addresses.length).toBeGreaterThan(0);
    for (const address of addresses) expect(text).toContain(address);
    expect(text).toContain('Connected Yes');
    await page.getByTestId('action-bar').locator('[data-action="CollectInvestigationPackage"]').waitFor({ timeout: WAIT });
    await screenshot(page, 'console-device');
    expect(unexpected(t)).toEqual([]);
  }, 90_000);

  it('adds a tag from the device page and filters the devices list by it', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    const tag = `e2e-${randomBytes(3).toString('hex')}`;
    await page.goto(`/devices/${me.id}`);
    await page.locator('[data-action="ManageTags"]:not([aria-disabled="true"])').click({ timeout: WAIT });
    const dialog = page.getByRole('dialog', { name: `Manage tags — ${me.computerDnsName}` });
    await dialog.getByRole('textbox', { name: 'New tag' }).fill(tag);
    await dialog.getByRole('button', { name: 'Add tag' }).click();
    await dialog.getByTestId('tag-list').getByText(tag, { exact: true }).waitFor({ timeout: WAIT });
    await screenshot(page, 'console-manage-tags');
    await dialog.getByRole('button', { name: 'Done' }).click();
    await page.getByTestId('device-header').getByText(tag, { exact: true }).waitFor({ timeout: WAIT });
    expect((await api.machine(me.id)).machineTags).toContain(tag);

    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/devices', { timeout: WAIT });
    const table = page.getByTestId('devices-table');
    await table.getByRole('link', { name: offlineName }).waitFor({ timeout: WAIT });
    await page.getByRole('textbox', { name: 'Tag', exact: true }).fill(tag);
    await page.waitForURL((u) => u.searchParams.get('tag') === tag, { timeout: WAIT });
    await expect.poll(() => table.getByRole('link').allTextContents(), { timeout: WAIT }).toEqual([me.computerDnsName]);
    await screenshot(page, 'console-devices-by-tag');

    await page.getByRole('textbox', { name: 'Tag', exact: true }).fill(`${tag}-none`);
    await page.waitForURL((u) => u.searchParams.get('tag') === `${tag}-none`, { timeout: WAIT });
    await expect.poll(() => table.getByRole('link').count(), { timeout: WAIT }).toBe(0);
    // mantine-datatable keeps its empty state in the DOM and marks it active when shown.
    expect(await table.locator('.mantine-datatable-empty-state[data-active]').innerText()).toBe('No device matches these filters');
    await screenshot(page, 'console-devices-empty');

    // Navigating to the unfiltered list empties the box too, and typing elsewhere does not bring the tag back.
    await page.getByRole('link', { name: 'Devices', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/devices' && !u.searchParams.has('tag'), { timeout: WAIT });
    await expect.poll(() => page.getByRole('textbox', { name: 'Tag', exact: true }).inputValue(), { timeout: WAIT }).toBe('');
    await page.getByRole('textbox', { name: 'OS', exact: true }).fill('Linux');
    await page.waitForURL((u) => u.searchParams.get('os') === 'Linux', { timeout: WAIT });
    expect(new URL(page.url()).searchParams.has('tag')).toBe(false);
    expect(unexpected(t)).toEqual([]);
  }, 90_000);

  it('collects an investigation package from the action bar, follows it live to Succeeded, and downloads it from the Action center and the timeline', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto(`/devices/${me.id}`);
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor({ timeout: WAIT });
    await markDocument(page);

    await page.locator('[data-action="CollectInvestigationPackage"]:not([aria-disabled="true"])').click({ timeout: WAIT });
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('textbox', { name: 'Comment' }).waitFor({ timeout: WAIT });
    const submit = dialog.getByRole('button', { name: 'Collect investigation package' });
    expect(await submit.isDisabled()).toBe(true); // the comment is required
    const comment = `e2e: triage package ${randomBytes(3).toString('hex')}`;
    await dialog.getByRole('textbox', { name: 'Comment' }).fill(comment);
    await screenshot(page, 'console-action-dialog');
    const [response] = await Promise.all([page.waitForResponse((r) => r.url().endsWith(`/api/machines/${me.id}/collectInvestigationPackage`) && r.request().method() === 'POST', { timeout: WAIT }), submit.click()]);
    expect(response.status()).toBe(201);
    const actionId = ((await response.json()) as { id: string }).id;
    await dialog.waitFor({ state: 'detached', timeout: WAIT });

    await page.locator('[data-action="ActionCenter"]').click();
    const drawer = page.getByRole('dialog', { name: `Action center — ${me.computerDnsName}` });
    const row = drawer.getByTestId('flyout-actions-table').locator('tbody tr', { hasText: 'Collect investigation package' });
    await row.waitFor({ timeout: WAIT });
    await screenshot(page, 'console-flyout');
    // Pending → InProgress → Succeeded, pushed over server-sent events: no reload, no polling by the test.
    await row.getByTestId('action-status').filter({ hasText: 'Succeeded' }).waitFor({ timeout: LONG_WAIT });
    expect(await stillSameDocument(page)).toBe(true);
    const done = await api.action(actionId);
    expect(done).toMatchObject({ status: 'Succeeded', requestorComment: comment, requestor: 'admin' });
    const sha256 = (done.result as { sha256: string }).sha256;
    await screenshot(page, 'console-flyout-succeeded');

    await row.getByRole('button', { name: 'Show comment' }).click();
    await expect.poll(() => page.getByTestId('action-comment').textContent(), { timeout: WAIT }).toBe(comment);
    await row.getByRole('button', { name: 'Show comment' }).click(); // closes it (Escape would close the drawer too)
    await page.getByTestId('action-comment').waitFor({ state: 'hidden' });

    const fromFlyout = await download(page, row.getByRole('button', { name: 'Download package' }));
    expect(fromFlyout.bytes.subarray(0, 2).toString()).toBe('PK');
    const completed = (await api.packages(me.id)).find((p) => p.actionId === actionId)!.createdAt;
    expect(fromFlyout.d.suggestedFilename()).toBe(packageFileName(me.computerDnsName, completed));
    expect(createHash('sha256').update(fromFlyout.bytes).digest('hex')).toBe(sha256);
    await page.keyboard.press('Escape');
    await drawer.waitFor({ state: 'hidden', timeout: WAIT });

    const timelineRow = page.getByTestId('timeline-table').locator('tbody tr', { hasText: 'Package available' });
    await timelineRow.waitFor({ timeout: WAIT });
    const fromTimeline = await download(page, timelineRow.getByRole('button', { name: 'Download package' }));
    expect(fromTimeline.bytes.subarray(0, 2).toString()).toBe('PK');
    expect(createHash('sha256').update(fromTimeline.bytes).digest('hex')).toBe(sha256);
    expect(await stillSameDocument(page)).toBe(true);
    await screenshot(page, 'console-device-timeline');
    expect(unexpected(t)).toEqual([]);
  }, 180_000);

  it('cancels a pending action on an offline device from the Action center, with a comment', async () => {
    const pending = await api.submit(offlineId, 'collectInvestigationPackage', { Comment: 'e2e: waiting for an offline device' });
    expect(pending.status).toBe('Pending');
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/actions');
    const row = page.getByTestId('actions-table').locator('tbody tr', { hasText: offlineName });
    await row.getByTestId('action-status').filter({ hasText: 'Pending' }).waitFor({ timeout: WAIT });
    await screenshot(page, 'console-action-center');

    await row.getByRole('button', { name: 'Cancel', exact: true }).click();
    const dialog = page.getByRole('dialog', { name: `Cancel Collect investigation package on ${offlineName}` });
    const confirm = dialog.getByRole('button', { name: 'Cancel action' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.getByRole('textbox', { name: 'Comment' }).fill('e2e: not needed any more');
    await screenshot(page, 'console-cancel-dialog');
    await confirm.click();
    await dialog.waitFor({ state: 'detached', timeout: WAIT });
    await row.getByTestId('action-status').filter({ hasText: 'Cancelled' }).waitFor({ timeout: WAIT });
    expect(await api.action(pending.id)).toMatchObject({ status: 'Cancelled', cancellationComment: 'e2e: not needed any more', cancellationRequestor: 'admin' });
    expect(await row.getByRole('button', { name: 'Cancel', exact: true }).count()).toBe(0);
    expect(unexpected(t)).toEqual([]);
  }, 90_000);

  it('does not offer Selective isolation where no policy applies, before anything is sent', async () => {
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto(`/devices/${offlineId}`);
    await page.locator('[data-testid="action-bar"] [data-action="Isolate"]').click();
    await page.getByRole('menuitem', { name: 'Selective isolation' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByTestId('no-selective-policy').waitFor({ timeout: WAIT });
    await dialog.getByRole('textbox', { name: 'Comment' }).fill('e2e: selective without a policy');
    expect(await dialog.getByRole('button', { name: 'Isolate device' }).isDisabled()).toBe(true);
    await screenshot(page, 'console-selective-no-policy');
    // Switching to Full makes it possible again (not submitted: this is only about the dialog).
    await dialog.getByText('Full', { exact: true }).click();
    expect(await dialog.getByRole('button', { name: 'Isolate device' }).isDisabled()).toBe(false);
    expect((await api.actions({ filter: `machineId eq '${offlineId}' and type eq 'Isolate'` })).length).toBe(0);
    expect(unexpected(t)).toEqual([]);
  });

  it('exports the Action center filtered by status as CSV, with formula-looking comments defused', async () => {
    const formula = await api.submit(me.id, 'refreshInventory', { Comment: FORMULA });
    expect((await api.waitFor(formula.id, LONG_WAIT, () => undefined)).status).toBe('Succeeded');
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/actions');
    await page.getByTestId('actions-table').locator('tbody tr').first().waitFor({ timeout: WAIT });
    await page.getByTestId('action-filters').getByLabel('Status', { exact: true }).click();
    await page.getByRole('option', { name: 'Succeeded', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('status') === 'Succeeded', { timeout: WAIT });
    await page.keyboard.press('Escape');
    const succeeded = (await api.actions({ filter: "status eq 'Succeeded'", top: 1000 })).map((a) => a.id);
    expect(succeeded).toContain(formula.id);
    await expect.poll(() => page.getByTestId('actions-table').getByTestId('action-status').allTextContents(), { timeout: WAIT }).toEqual(succeeded.map(() => 'Succeeded'));
    await screenshot(page, 'console-action-center-succeeded');

    const { d, bytes } = await download(page, page.getByTestId('export-csv'));
    expect(d.suggestedFilename()).toMatch(/^cordon-actions-.*\.csv$/);
    const [head, ...rows] = parseCsv(bytes.toString('utf8')).filter((r) => r.some((c) => c !== ''));
    expect(head).toEqual(['id', 'submitted', 'type', 'device', 'machineId', 'scope', 'requestor', 'comment', 'status', 'error', 'lastUpdate']);
    expect(rows.map((r) => r[0]).sort()).toEqual([...succeeded].sort());
    for (const r of rows) expect(r[8]).toBe('Succeeded');
    const row = rows.find((r) => r[0] === formula.id)!;
    expect(row[7]).toContain(FORMULA);
    expect(row[7]).not.toMatch(/^[=+\-@\t\r]/);
    expect(rows.some((r) => r[4] === offlineId)).toBe(false); // the cancelled action is not Succeeded

    // A filter that matches nothing still exports the header row, not an empty file.
    await page.goto('/actions?status=Succeeded&device=no-such-device-anywhere');
    await page.getByTestId('actions-table').getByText('No action matches these filters').waitFor({ timeout: WAIT });
    const empty = await download(page, page.getByTestId('export-csv'));
    expect(parseCsv(empty.bytes.toString('utf8')).filter((r) => r.some((c) => c !== ''))).toEqual([head]);
    expect(unexpected(t)).toEqual([]);
  }, 180_000);

  it('shows a viewer every response action disabled with the reason, no tagging, and the API refuses a forced isolate', async () => {
    const t = await open();
    const { page } = t;
    const { csrfToken } = await signIn(page, viewer.username, viewer.password);
    await page.goto(`/devices/${me.id}`);
    const bar = page.getByTestId('action-bar');
    await bar.locator('[data-action="ManageTags"]').waitFor({ timeout: WAIT });
    const attributes = (els: { getAttribute(name: string): string | null }[]) => els.map((e) => [e.getAttribute('data-action'), e.getAttribute('aria-disabled')]);
    // What does not fit the bar's one row waits in its "More actions" menu.
    const inRow = ((await bar.locator('[data-action]').evaluateAll(attributes)) as [string, string | null][]).filter(([a]) => a !== 'ActionCenter');
    await bar.getByRole('button', { name: 'More actions' }).click();
    const menu = page.getByTestId('more-actions');
    await menu.waitFor({ timeout: WAIT });
    const inMenu = (await menu.locator('[data-action]').evaluateAll(attributes)) as [string, string | null][];
    await page.keyboard.press('Escape');
    await menu.waitFor({ state: 'hidden', timeout: WAIT });
    const responseActions = [...inRow, ...inMenu];
    expect(inRow.length).toBeGreaterThan(0);
    expect(responseActions.map(([a]) => a).sort()).toEqual(['ManageTags', 'AutomatedInvestigation', 'LiveResponse', 'CollectInvestigationPackage', 'RunAntiVirusScan', 'RestrictCodeExecution', 'Isolate', 'ConsultThreatExpert'].sort());
    for (const [a, disabled] of responseActions) expect(disabled, a).toBe('true');

    // Each reason, as the API gives it: the tooltip of a button in the row, on hover and on keyboard
    // focus; a line under the entry in the menu.
    const reasons = await page.request.get(`/api/machines/${me.id}/responseActions`);
    expect(reasons.status()).toBe(200);
    const byAction = new Map(((await reasons.json()) as { value: { action: string; available: boolean; reason: string | null }[] }).value.map((r) => [r.action, r]));
    for (const [a] of responseActions) {
      const r = byAction.get(a)!;
      expect(r.available, a).toBe(false);
      expect(r.reason, a).toBeTruthy();
    }
    for (const [a] of inRow) {
      const button = bar.locator(`[data-action="${a}"]`);
      await button.hover();
      // The open tooltip is tied to its button (aria-describedby), so it is read with it.
      const tip = await until(`the tooltip of ${a}`, () => button.getAttribute('aria-describedby'), WAIT);
      expect(await page.locator(`[id="${tip}"]`).getAttribute('role')).toBe('tooltip');
      expect(await page.locator(`[id="${tip}"]`).innerText()).toBe(byAction.get(a)!.reason);
    }
    await page.mouse.move(0, 0);
    const [firstInRow] = inRow[0]!;
    await bar.locator(`[data-action="${firstInRow}"]`).focus();
    await page.getByRole('tooltip').filter({ hasText: byAction.get(firstInRow)!.reason! }).waitFor({ timeout: WAIT });
    await page.mouse.move(0, 0);
    await bar.getByRole('button', { name: 'More actions' }).click();
    for (const [a] of inMenu) expect(await menu.locator(`[data-action="${a}"]`).innerText()).toContain(byAction.get(a)!.reason);
    await screenshot(page, 'console-viewer-device');
    expect(byAction.get('Isolate')!.reason).toMatch(/viewer/);
    expect(byAction.get('ManageTags')!.reason).toMatch(/viewer.*change tags/);

    // Choosing an unavailable action does nothing, in the menu or in the row.
    await menu.locator('[data-action]').first().click({ force: true });
    await page.keyboard.press('Escape');
    await bar.locator(`[data-action="${firstInRow}"]`).click({ force: true });
    expect(await page.getByRole('dialog').count()).toBe(0);

    // Forced requests with the viewer's own session and CSRF token: refused by role. Aimed at the
    // simulated device only, so nothing could ever isolate this machine.
    const isolate = await page.request.post(`/api/machines/${offlineId}/isolate`, { headers: { 'x-csrf-token': csrfToken }, data: { comment: 'forced', isolationType: 'Full' } });
    expect(isolate.status()).toBe(403);
    expect(((await isolate.json()) as { error: { code: string } }).error.code).toBe('Forbidden'); // the role, not a missing CSRF token
    const tag = await page.request.post(`/api/machines/${offlineId}/tags`, { headers: { 'x-csrf-token': csrfToken }, data: { value: 'forced', action: 'Add' } });
    expect(tag.status()).toBe(403);
    expect(((await tag.json()) as { error: { code: string } }).error.code).toBe('Forbidden');
    expect((await api.actions({ filter: `machineId eq '${offlineId}' and type eq 'Isolate'` })).length).toBe(0);
    expect((await api.machine(offlineId)).machineTags).not.toContain('forced');

    // The devices list's tag buttons are disabled for a viewer too.
    await page.goto('/devices');
    const add = page.getByRole('button', { name: 'Add tag' });
    await add.waitFor({ timeout: WAIT });
    expect(await add.getAttribute('data-disabled')).toBe('true');
    await add.hover();
    await page.getByRole('tooltip').filter({ hasText: 'may not change tags' }).waitFor({ timeout: WAIT });
    await screenshot(page, 'console-viewer-devices');
    expect(unexpected(t)).toEqual([]);
  }, 90_000);

  it('shows a hostile hostname as text, in the list and on its page, and never runs it', async () => {
    const t = await open();
    const { page } = t;
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await signIn(page, 'admin', adminPassword);
    await page.goto('/devices');
    const link = page.getByTestId('devices-table').getByRole('link', { name: HOSTILE, exact: true });
    await link.waitFor({ timeout: WAIT });
    expect(await link.textContent()).toBe(HOSTILE);
    await screenshot(page, 'console-hostile-devices');
    await link.click();
    await page.waitForURL((u) => u.pathname === `/devices/${hostileId}`, { timeout: WAIT });
    await expect.poll(() => page.getByTestId('device-name').textContent(), { timeout: WAIT }).toBe(HOSTILE);
    await page.getByTestId('timeline-table').getByText(`Device ${HOSTILE} enrolled`).waitFor({ timeout: WAIT });

    // The header search lists it as text too.
    await page.getByTestId('device-search').fill('<img');
    await page.getByRole('option', { name: `${HOSTILE} — 198.51.100.66`, exact: true }).waitFor({ timeout: WAIT });
    await screenshot(page, 'console-hostile-device');
    await page.keyboard.press('Escape');

    expect(await page.locator('img[src="x"]').count()).toBe(0);
    expect(dialogs).toEqual([]);
    expect(unexpected(t)).toEqual([]);
  }, 90_000);

  it("says on a device's page that its credential was revoked, and by whom", async () => {
    await api.request('POST', `/api/machines/${revokedId}/revokeCredential`, { Comment: 'e2e: laptop stolen' });
    const t = await open();
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto(`/devices/${revokedId}`);
    const alert = page.getByTestId('credential-revoked');
    await alert.waitFor({ timeout: WAIT });
    expect(await alert.textContent()).toContain("revoked this device's credential");
    await page.getByTestId('timeline-table').getByText('e2e: laptop stolen', { exact: false }).or(page.getByTestId('timeline-table').getByText('revoked', { exact: false })).first().waitFor({ timeout: WAIT });
    await screenshot(page, 'console-credential-revoked');
    expect(unexpected(t)).toEqual([]);
  }, 60_000);

  it('after a session ends, sends the user to sign-in and back to the very page they were on', async () => {
    const t = await open();
    const { page, context } = t;
    const target = `/devices/${me.id}?x=1`;
    await page.goto(target);
    await page.waitForURL((u) => u.pathname === '/signin', { timeout: WAIT });
    await signInWithForm(page, 'admin', adminPassword);
    await page.waitForURL((u) => u.pathname === `/devices/${me.id}` && u.search === '?x=1', { timeout: WAIT });
    await expect.poll(() => page.getByTestId('device-name').textContent(), { timeout: WAIT }).toBe(me.computerDnsName);
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();

    // Signed out in another tab of the same browser: this tab finds out on its next request.
    const other = await context.newPage();
    const otherErrors: string[] = [];
    other.on('console', (m) => m.type() === 'error' && otherErrors.push(m.text()));
    other.on('pageerror', (e) => otherErrors.push(e.message));
    await other.goto('/');
    await other.getByTestId('account-menu').click();
    await other.getByRole('menuitem', { name: 'Sign out' }).click();
    await other.waitForURL((u) => u.pathname === '/signin', { timeout: WAIT });
    await other.close();
    expect(otherErrors).toEqual([]);
    await page.getByRole('tab', { name: 'Actions' }).click();
    await page.waitForURL((u) => u.pathname === '/signin', { timeout: WAIT });
    // The tab is in the address: sign-in returns to it.
    expect(new URL(page.url()).searchParams.get('next')).toBe(`${target}&tab=actions`);
    await screenshot(page, 'console-session-ended');
    await signInWithForm(page, 'admin', adminPassword);
    await page.waitForURL((u) => u.pathname === `/devices/${me.id}` && u.search === '?x=1&tab=actions', { timeout: WAIT });
    await page.getByRole('tab', { name: 'Actions', selected: true }).waitFor({ timeout: WAIT });
    await expect.poll(() => page.getByTestId('device-name').textContent(), { timeout: WAIT }).toBe(me.computerDnsName);
    // Settled (the live stream open) before the cookie goes, or the stream's first request would race it.
    await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();

    // The cookie gone (expired or removed): opening the page does the same.
    await context.clearCookies();
    await page.goto(target);
    await page.waitForURL((u) => u.pathname === '/signin', { timeout: WAIT });
    expect(new URL(page.url()).searchParams.get('next')).toBe(target);
    await signInWithForm(page, 'admin', adminPassword);
    await page.waitForURL((u) => u.pathname === `/devices/${me.id}` && u.search === '?x=1', { timeout: WAIT });
    await expect.poll(() => page.getByTestId('device-name').textContent(), { timeout: WAIT }).toBe(me.computerDnsName);
    // Expected: the 401s that told the console the session had ended.
    expect(unexpected(t, ['/api/auth/me', '/api/machineactions', '/api/actionTypes'])).toEqual([]);
  }, 90_000);

  it('follows a dark colour scheme', async () => {
    const t = await open({ colorScheme: 'dark' });
    const { page } = t;
    await signIn(page, 'admin', adminPassword);
    await page.goto('/');
    await page.getByTestId('card-pending').waitFor({ timeout: WAIT });
    expect(await page.locator('html').getAttribute('data-mantine-color-scheme')).toBe('dark');
    await screenshot(page, 'console-dashboard-dark');
    await page.goto(`/devices/${me.id}`);
    await page.getByTestId('action-bar').locator('[data-action="Isolate"]').waitFor({ timeout: WAIT });
    expect(await page.locator('html').getAttribute('data-mantine-color-scheme')).toBe('dark');
    await screenshot(page, 'console-device-dark');
    expect(unexpected(t)).toEqual([]);
  }, 90_000);
});
