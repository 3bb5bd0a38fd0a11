/**
 * The Action center as an analyst follows an action, in a real browser (Debian's chromium) against
 * a real `cordon server` and the real agent on this machine, plus one simulated device that enrolls
 * and goes offline (for a pending action to cancel):
 * - a package collection's progress, as it runs, in the device's Actions tab and the Action center;
 * - an action's detail pane (addressable: `?action=<id>`): comment, submitter, the package's counts,
 *   size and SHA-256 with its download, and every state change with its time and actor;
 * - timeline rows that open their action and say its comment;
 * - times with their zone, and a UTC switch remembered by the browser;
 * - the device page's tab and Action center fly-out in the address, with Back and Forward.
 *
 * Nothing here changes this machine: the real agent only collects an investigation package (it reads).
 * Screenshots land in e2e/.artifacts/screenshots/console-actioncenter-*.png.
 */
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { AGENT_VERSION, enroll } from '@cordon/agent';
import { CordonClient, type Machine, type MachineAction } from '@cordon/cli/client';
import { PROTOCOL_VERSION, type Inventory } from '@cordon/protocol';
import { screenshot, startConsoleBed, type ConsoleBed } from './browser.js';
import { ownWalkRoots, tempDir, until } from './helpers.js';

const WAIT = 30_000;
const LONG_WAIT = 120_000;
/** A zone with a half-hour offset and no daylight saving time: every local time must say +05:30. */
const ZONE = 'Asia/Kolkata';
const TIME = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC(?:[+-]\d\d:\d\d)?$/;

/** How the console writes a time: in the zone `offsetMinutes` from UTC, saying it. */
function expectedTime(iso: string, offsetMinutes: number | 'UTC'): string {
  const off = offsetMinutes === 'UTC' ? 0 : offsetMinutes;
  const t = new Date(Date.parse(iso) + off * 60_000).toISOString();
  const zone = offsetMinutes === 'UTC' ? 'UTC' : `UTC${off < 0 ? '-' : '+'}${String(Math.floor(Math.abs(off) / 60)).padStart(2, '0')}:${String(Math.abs(off) % 60).padStart(2, '0')}`;
  return `${t.slice(0, 10)} ${t.slice(11, 19)} ${zone}`;
}

describe('web console: Action center', () => {
  const dirs: string[] = [];
  let bed: ConsoleBed;
  let api: CordonClient;
  let me: Machine;
  let offlineId: string;
  const offlineName = `offline-sim-${randomBytes(3).toString('hex')}`;
  /** The package collected by the first test; later tests look at it. */
  let collected: MachineAction;
  const packageComment = `e2e: triage after alert ${randomBytes(3).toString('hex')}`;

  /** An action's row in a table: its label links to the action's detail pane. */
  const rowOf = (table: Locator, actionId: string) => table.locator('tbody tr', { has: table.page().locator(`a[href*="action=${actionId}"]`) });
  const paneParam = (page: Page) => new URL(page.url()).searchParams.get('action');

  async function simOffline(agentUrl: string, token: string, inv: Inventory): Promise<string> {
    const dir = tempDir('console-ac-sim');
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

  beforeAll(async () => {
    bed = await startConsoleBed('console-ac', dirs, { pageTimeoutMs: WAIT });
    ({ api } = bed);
    const { agentUrl, enrollment } = bed;
    // The package walks directories of this test's own (not the host's /tmp, /root and /home, which
    // other test files write to), with enough files in them that the collection runs long enough to watch.
    const roots = ownWalkRoots(dirs);
    for (let i = 0; i < 3000; i++) writeFileSync(join(roots.CORDON_AGENT_PACKAGE_TEMP_DIRS!, `file-${i}.txt`), `evidence ${i}\n`);
    const { machineId } = await bed.startAgent(roots);
    offlineId = await simOffline(agentUrl, enrollment, {
      hostname: offlineName,
      osPlatform: 'Linux',
      osVersion: 'Debian GNU/Linux 12 (bookworm)',
      osProcessor: 'x64',
      kernel: '6.1.0-sim',
      ipAddresses: [{ address: '198.51.100.8', family: 'IPv4', interface: 'eth0', mac: null }],
      agentVersion: AGENT_VERSION,
      capabilities: [
        { name: 'inventory', version: '1' },
        { name: 'investigationPackage', version: '1' },
      ],
      deviceTags: [],
    });
    me = await bed.online(machineId);
  }, 240_000);

  afterAll(() => bed?.close(), 90_000);

  it("shows a package collection's progress as it runs, in the device's Actions tab and in the Action center", async () => {
    const [device, center] = [await bed.signedIn(), await bed.signedIn()];
    await device.page.goto(`/devices/${me.id}?tab=actions`);
    await center.page.goto('/actions');
    for (const { page } of [device, center]) await page.getByTestId('live-state').filter({ hasText: 'Live' }).waitFor();
    await device.page.getByTestId('device-actions-table').getByText('No action on this device yet').waitFor();

    collected = await api.submit(me.id, 'collectInvestigationPackage', { Comment: packageComment });
    // The agent reports "Collecting <folder> (i/n)" per collector; each view shows it, pushed live.
    const progress = /^\d{1,2}% Collecting \S+ \(\d+\/\d+\)/;
    const views = [
      { page: device.page, table: device.page.getByTestId('device-actions-table'), name: 'console-actioncenter-device-progress' },
      { page: center.page, table: center.page.getByTestId('actions-table'), name: 'console-actioncenter-progress' },
    ];
    const seen = await Promise.all(
      views.map(async ({ page, table, name }) => {
        const shown = rowOf(table, collected.id).getByTestId('action-progress');
        const text = await until('the collection to show its progress', async () => {
          const now = (await shown.allTextContents())[0];
          return now && progress.test(now) ? now : null;
        }, LONG_WAIT);
        await screenshot(page, name);
        return text;
      }),
    );
    for (const text of seen) expect(text).toMatch(progress);
    for (const { table } of views) await rowOf(table, collected.id).getByTestId('action-status').filter({ hasText: 'Succeeded' }).waitFor({ timeout: LONG_WAIT });
    // Done: no progress left behind.
    expect(await rowOf(device.page.getByTestId('device-actions-table'), collected.id).getByTestId('action-progress').count()).toBe(0);
    for (const t of [device, center]) expect(t.problems()).toEqual([]);
  }, 240_000);

  it("opens an action's detail pane from its row: comment, submitter, the package's counts, size and SHA-256, its download, and every state change", async () => {
    const done = await api.action(collected.id);
    expect(done.status).toBe('Succeeded');
    const result = done.result as Record<string, number | string>;
    const t = await bed.signedIn({ viewport: { width: 1440, height: 900 } });
    const { page } = t;
    await page.goto('/actions');
    const row = rowOf(page.getByTestId('actions-table'), collected.id);
    // A click anywhere on the row that is not a button or a link.
    await row.locator('td').first().click();
    await page.waitForURL((u) => u.searchParams.get('action') === collected.id);
    const pane = page.getByRole('dialog', { name: `Collect investigation package — ${me.computerDnsName}` });
    await pane.getByTestId('action-detail').waitFor();
    expect(await pane.getByTestId('action-detail-comment').textContent()).toBe(packageComment);
    const text = (await pane.innerText()).replace(/\s+/g, ' ');
    expect(text).toContain(`Submitted by ${done.requestor}`);
    expect(await pane.getByTestId('action-device').textContent()).toBe(me.computerDnsName);
    expect(await pane.getByTestId('action-device').getAttribute('href')).toBe(`/devices/${me.id}?tab=actions`);

    const fact = (k: string) => pane.getByTestId('package-result').locator(`[data-fact="${k}"]`);
    for (const k of ['collectors', 'dataPoints', 'succeeded', 'failed', 'timedOut', 'truncated', 'notPresent']) expect(await fact(k).textContent(), k).toBe(String(result[k]));
    expect(await fact('sha256').textContent()).toBe(result.sha256);
    expect(await fact('size').textContent()).toContain(`${Number(result.size).toLocaleString('en-US')} bytes`);

    const changes = pane.getByTestId('action-state-changes').locator('tbody tr');
    expect(await changes.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status')))).toEqual(['Pending', 'InProgress', 'Succeeded']);
    const first = (await changes.nth(0).locator('td').allInnerTexts()).map((s) => s.trim());
    expect(first[1]).toMatch(TIME);
    expect(first[2]).toBe(done.requestor);
    expect(first[3]).toContain(packageComment);
    for (let i = 1; i < 3; i++) expect((await changes.nth(i).locator('td').nth(1).innerText()).trim()).toMatch(TIME);
    await screenshot(page, 'console-actioncenter-detail');

    // The pane is in the address: Back closes it, Forward opens it again, and the address alone opens it.
    await page.goBack();
    await page.waitForURL((u) => u.pathname === '/actions' && !u.searchParams.has('action'));
    await pane.waitFor({ state: 'hidden' });
    await page.goForward();
    await pane.getByTestId('action-detail').waitFor();
    await page.keyboard.press('Escape');
    await pane.waitFor({ state: 'hidden' });
    expect(paneParam(page)).toBeNull();
    await page.goto(`/actions?status=Succeeded&action=${collected.id}`);
    await pane.getByTestId('action-detail').waitFor();
    const [d] = await Promise.all([page.waitForEvent('download'), pane.getByRole('button', { name: 'Download package' }).click()]);
    expect(createHash('sha256').update(readFileSync(await d.path())).digest('hex')).toBe(result.sha256);
    expect(t.problems()).toEqual([]);
  }, 120_000);

  it('shows who cancelled an action, when and why, among its state changes', async () => {
    const pending = await api.submit(offlineId, 'collectInvestigationPackage', { Comment: 'e2e: for an offline laptop' });
    await api.cancel(pending.id, 'e2e: the laptop was reimaged');
    const cancelled = await api.action(pending.id);
    const t = await bed.signedIn();
    const { page } = t;
    await page.goto(`/actions?action=${pending.id}`);
    const pane = page.getByRole('dialog', { name: `Collect investigation package — ${offlineName}` });
    await pane.getByTestId('action-detail').waitFor();
    const changes = pane.getByTestId('action-state-changes').locator('tbody tr');
    await until('both state changes', async () => ((await changes.count()) === 2 ? true : null), WAIT);
    expect(await changes.evaluateAll((rows) => rows.map((r) => r.getAttribute('data-status')))).toEqual(['Pending', 'Cancelled']);
    const last = (await changes.nth(1).locator('td').allInnerTexts()).map((s) => s.trim());
    expect(last[2]).toBe(cancelled.cancellationRequestor);
    expect(last[3]).toContain('e2e: the laptop was reimaged');
    expect(await pane.getByTestId('action-cancellation').innerText()).toContain(`by ${cancelled.cancellationRequestor}`);
    await screenshot(page, 'console-actioncenter-detail-cancelled');
    expect(t.problems()).toEqual([]);
  }, 60_000);

  it("links a device's timeline rows to their action, with the action's comment", async () => {
    const t = await bed.signedIn();
    const { page } = t;
    await page.goto(`/devices/${me.id}`);
    const timeline = page.getByTestId('timeline-table');
    const submitted = timeline.locator('tbody tr', { hasText: 'Collect investigation package submitted by' });
    await submitted.waitFor();
    expect(await submitted.getByTestId('timeline-action-comment').textContent()).toBe(`“${packageComment}”`);
    // Each event of the action (submitted, started, succeeded) says why it was taken.
    const ofAction = timeline.locator('tbody tr', { has: page.locator(`a[href*="action=${collected.id}"]`) });
    expect(await ofAction.count()).toBeGreaterThanOrEqual(3);
    for (const c of await ofAction.getByTestId('timeline-action-comment').allTextContents()) expect(c).toBe(`“${packageComment}”`);
    await screenshot(page, 'console-actioncenter-timeline');

    await submitted.getByTestId('action-link').click();
    await page.waitForURL((u) => u.pathname === `/devices/${me.id}` && u.searchParams.get('action') === collected.id);
    const pane = page.getByRole('dialog', { name: `Collect investigation package — ${me.computerDnsName}` });
    expect(await pane.getByTestId('action-detail-comment').textContent()).toBe(packageComment);
    expect(t.problems()).toEqual([]);
  }, 60_000);

  it('shows times with their zone, and in UTC after the switch, remembered across reloads', async () => {
    const t = await bed.signedIn({ timezoneId: ZONE });
    const { page } = t;
    await page.goto('/actions');
    const submittedCell = rowOf(page.getByTestId('actions-table'), collected.id).locator('td').first();
    await expect.poll(() => submittedCell.innerText(), { timeout: WAIT }).toBe(expectedTime(collected.creationDateTimeUtc, 330));
    await screenshot(page, 'console-actioncenter-local-times');

    await page.getByTestId('account-menu').click();
    const toggle = page.getByRole('switch', { name: 'Show times in UTC' });
    expect(await toggle.isChecked()).toBe(false);
    await toggle.click();
    await expect.poll(() => submittedCell.innerText(), { timeout: WAIT }).toBe(expectedTime(collected.creationDateTimeUtc, 'UTC'));
    await page.reload();
    await expect.poll(() => submittedCell.innerText(), { timeout: WAIT }).toBe(expectedTime(collected.creationDateTimeUtc, 'UTC'));

    // A relative time keeps the exact one, with its zone, on hover.
    await page.goto(`/devices/${me.id}`);
    const lastSeen = page.getByTestId('device-header').locator('time').first();
    await lastSeen.hover();
    const tip = await until('the last-seen tooltip', () => lastSeen.getAttribute('aria-describedby'), WAIT);
    expect(await page.locator(`[id="${tip}"]`).innerText()).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
    const eventTime = page.getByTestId('timeline-table').locator('tbody tr').first().locator('td').first();
    await expect.poll(() => eventTime.innerText(), { timeout: WAIT }).toMatch(/ UTC$/);

    // And back to the browser's zone.
    await page.getByTestId('account-menu').click();
    const again = page.getByRole('switch', { name: 'Show times in UTC' });
    expect(await again.isChecked()).toBe(true);
    await again.click();
    await expect.poll(() => eventTime.innerText(), { timeout: WAIT }).toMatch(/ UTC\+05:30$/);
    expect(await page.evaluate('localStorage.length')).toBe(0);
    expect(t.problems()).toEqual([]);
  }, 60_000);

  it("keeps the device page's tab and its Action center fly-out in the address, with Back and Forward", async () => {
    const t = await bed.signedIn();
    const { page } = t;
    await page.goto(`/devices/${me.id}?tab=actions`);
    await page.getByRole('tab', { name: 'Actions', selected: true }).waitFor();
    await rowOf(page.getByTestId('device-actions-table'), collected.id).waitFor();

    await page.getByRole('tab', { name: 'Timeline' }).click();
    await page.waitForURL((u) => u.pathname === `/devices/${me.id}` && !u.searchParams.has('tab'));
    await page.getByTestId('timeline-table').waitFor();
    await page.goBack();
    await page.waitForURL((u) => u.searchParams.get('tab') === 'actions');
    await page.getByRole('tab', { name: 'Actions', selected: true }).waitFor();
    await page.getByTestId('device-actions-table').waitFor();
    await page.goForward();
    await page.getByRole('tab', { name: 'Timeline', selected: true }).waitFor();

    // The fly-out too: opened by the action bar, reached by a link, and an action's pane opens over it.
    await page.locator('[data-action="ActionCenter"]').click();
    await page.waitForURL((u) => u.searchParams.get('actionCenter') === 'open');
    const flyout = page.getByRole('dialog', { name: `Action center — ${me.computerDnsName}` });
    await flyout.waitFor();
    await page.goto(`/devices/${me.id}?actionCenter=open`);
    const row = rowOf(flyout.getByTestId('flyout-actions-table'), collected.id);
    await row.getByTestId('action-link').click();
    const pane = page.getByRole('dialog', { name: `Collect investigation package — ${me.computerDnsName}` });
    await pane.getByTestId('action-detail').waitFor();
    await screenshot(page, 'console-actioncenter-flyout-detail');
    // Escape closes the pane on top, not the fly-out under it.
    await page.keyboard.press('Escape');
    await pane.waitFor({ state: 'hidden' });
    expect(await flyout.isVisible()).toBe(true);
    expect(new URL(page.url()).searchParams.get('actionCenter')).toBe('open');
    await page.keyboard.press('Escape');
    await flyout.waitFor({ state: 'hidden' });
    expect(new URL(page.url()).searchParams.has('actionCenter')).toBe(false);
    expect(t.problems()).toEqual([]);
  }, 60_000);
});
