/**
 * Isolation from the web console, for real: a responder signs in with a real browser (Debian's
 * chromium), isolates a device from its page and releases it again, and every change reaches the
 * page live (server-sent events, no reload). The device is an enrolled agent in the namespace test
 * bed of isolation.test.ts, so "isolated" is checked with real TCP connections from the device's
 * namespace, not only by what the page says. Nothing here touches the host's own network.
 *
 * The agent is frozen (SIGSTOP) for the moment between submitting an action and seeing it pending
 * on the page, and thawed after: the action's completion then reaches an already-rendered page
 * only through the live updates, whatever the machine's speed.
 */
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { launchBrowser, newPage, screenshot, type TestPage } from './browser.js';
import { CordonBed } from './cordon-bed.js';
import { cordon, REAL, requireReal } from './helpers.js';
import { ADDR, type Peer } from './netns.js';

// As isolation.test.ts: quick reconnects and confirmation, the outside host's echo port as the forbidden-destination probe.
const AGENT_ENV = { CORDON_AGENT_RECONNECT_MAX_SECONDS: '1', CORDON_AGENT_ISOLATION_CONFIRM_SECONDS: '3', CORDON_AGENT_ISOLATION_WATCH_SECONDS: '0.5', CORDON_AGENT_ISOLATION_PROBE: `${ADDR.outside}:7000` };
const USER = 'responder1';
/** A condition the page must reach: generous, for a loaded 2-core machine; never a fixed sleep. */
const WAIT = 30_000;

describe('isolating a device from the web console (real browser, real nftables)', () => {
  // A missing chromium fails this file with the package to install (never a silent skip).
  beforeAll(() => void requireReal(REAL.chromium));
  const cb = new CordonBed('cc', AGENT_ENV);
  const bed = cb.bed;
  let device: Peer;
  let outside: Peer;
  let password: string;
  let browser: Browser | undefined;
  let t: TestPage;
  let page: Page;

  const badge = () => page.locator('[data-testid=isolation-badge]');
  const bar = () => page.locator('[data-testid=action-bar]');
  const flyout = () => page.locator('[data-testid=flyout-actions-table]');
  /** The Action center fly-out's row of one action type, by its label (the table shows one device's actions). */
  const flyoutRow = (label: string) => flyout().locator('tbody tr', { hasText: label });
  const statusOf = (row: Locator) => row.locator('[data-testid=action-status]');

  /** Runs `fn` with the agent stopped (it takes no action meanwhile); always lets it go on. */
  async function agentFrozen(fn: () => Promise<void>): Promise<void> {
    expect(cb.agent.kill('SIGSTOP')).toBe(true);
    try {
      await fn();
    } finally {
      cb.agent.kill('SIGCONT');
    }
  }

  /** Submits an action from the device page's dialog (already opened), with its required comment. */
  async function submitDialog(button: string, comment: string): Promise<void> {
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    const submit = dialog.getByRole('button', { name: button, exact: true });
    // The comment is required: no comment, no submit.
    expect(await submit.isDisabled()).toBe(true);
    await dialog.getByRole('textbox', { name: 'Comment' }).fill(comment);
    await submit.click();
    await dialog.waitFor({ state: 'detached', timeout: WAIT });
  }

  async function openActionCenter(): Promise<void> {
    await bar().locator('[data-action=ActionCenter]').click();
    await flyout().waitFor();
  }

  async function closeActionCenter(): Promise<void> {
    await page.keyboard.press('Escape');
    await flyout().waitFor({ state: 'detached', timeout: WAIT });
  }

  beforeAll(async () => {
    await cb.start();
    // Served from packages/console/dist: built by `npm test` (scripts/build.mjs) before the tests run.
    const shell = await fetch(`${cb.apiUrl}/signin`);
    expect(await shell.text(), 'the console is not built: run node scripts/build.mjs').toContain('<div id="root">');
    device = bed.peer(bed.names.device);
    outside = bed.peer(bed.names.outside);
    expect(await outside.ask(`listen ${ADDR.outside} 7000`)).toBe('listening');
    expect(await device.ask(`listen ${ADDR.device} 7001`)).toBe('listening');
    // A responder (the least role that may isolate), made the way an admin would.
    const created = await cordon(['user', 'create', '--username', USER, '--role', 'responder', '--data-dir', cb.serverDir]);
    expect(created.code, created.stderr).toBe(0);
    password = /^password: (\S+)$/m.exec(created.stdout)![1]!;
    browser = await launchBrowser();
    // The forwarded API: the session cookie belongs to the host the browser uses, this one throughout.
    t = await newPage(browser, { baseURL: cb.apiUrl });
    page = t.page;
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    cb.cleanup();
  });

  it('signs in from the sign-in page and opens the device, whose live updates are connected', async () => {
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    expect(await outside.reaches(ADDR.device, 7001)).toBe('connected');

    // Signed out, the device's page sends to sign-in and comes back after it.
    await page.goto(`/devices/${cb.machineId}`);
    await page.waitForURL(/\/signin\?next=/);
    await page.getByRole('textbox', { name: 'User name' }).fill(USER);
    await page.getByRole('textbox', { name: 'Password' }).fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL(`**/devices/${cb.machineId}`, { timeout: WAIT });
    await page.locator('[data-testid=device-header]').waitFor({ timeout: WAIT });
    await page.locator('[data-testid=live-state]', { hasText: 'Live' }).waitFor({ timeout: WAIT });
    expect(await badge().count()).toBe(0);
    await bar().locator('[data-action=Isolate]:not([aria-disabled=true])').waitFor({ timeout: WAIT });
    expect(await bar().locator('[data-action=Unisolate]').count()).toBe(0);
    // Gone if the page ever reloads: everything below must arrive without one.
    await page.evaluate('window.__cordonNoReload = true');
  }, 60_000);

  it('Isolate device → Full isolation: pending, then Isolated and Succeeded live; the device is cut off, the console keeps working', async () => {
    await agentFrozen(async () => {
      await bar().locator('[data-action=Isolate]').click();
      await page.getByRole('menuitem', { name: 'Full isolation' }).click();
      await submitDialog('Isolate device', 'Contain the incident (console e2e)');
      await badge().filter({ hasText: /^Isolation pending$/ }).waitFor({ timeout: WAIT });
      await openActionCenter();
      await flyoutRow('Isolate device').waitFor({ timeout: WAIT });
      expect(await statusOf(flyoutRow('Isolate device')).textContent()).toMatch(/^(Pending|In progress)$/);
    });
    // The open fly-out and the page behind it follow the action to its end by themselves.
    await statusOf(flyoutRow('Isolate device')).filter({ hasText: /^Succeeded$/ }).waitFor({ timeout: 60_000 });
    expect(await flyoutRow('Isolate device').innerText()).toMatch(/\bFull\b/);
    expect(await flyoutRow('Isolate device').innerText()).toContain(USER);
    await screenshot(page, 'console-isolation-action-center');
    await closeActionCenter();
    await badge().filter({ hasText: /^Isolated$/ }).waitFor({ timeout: WAIT });
    await bar().locator('[data-action=Unisolate]:not([aria-disabled=true])', { hasText: 'Release from isolation' }).waitFor({ timeout: WAIT });
    expect(await bar().locator('[data-action=Isolate]').count()).toBe(0);

    // For real: nothing gets in or out of the device…
    expect((await cb.machine()).isolationState).toBe('Isolated');
    expect(cb.cordonTable()).toBe(true);
    expect(await device.ask(`connect ${ADDR.outside} 7000 3000`)).toMatch(/^fail (ECONNREFUSED|EHOSTUNREACH|EACCES|EPERM)/);
    expect(await outside.reaches(ADDR.device, 7001)).toBe('rejected');
    // …except Cordon: the agent stays connected and the console is still live.
    expect((await cb.machine()).isConnected).toBe(true);
    await page.locator('[data-testid=live-state]', { hasText: 'Live' }).waitFor({ timeout: WAIT });
    await page.locator('[data-testid=device-header]', { hasText: /Connected\s*Yes/ }).waitFor({ timeout: WAIT });
    await screenshot(page, 'console-isolation-isolated');
  }, 90_000);

  it('Release from isolation: pending, then the badge goes and the release Succeeded live; the device reaches out again', async () => {
    await agentFrozen(async () => {
      await bar().locator('[data-action=Unisolate]').click();
      await submitDialog('Release from isolation', 'All clear (console e2e)');
      await badge().filter({ hasText: /^Isolation pending$/ }).waitFor({ timeout: WAIT });
      await openActionCenter();
      await flyoutRow('Release from isolation').waitFor({ timeout: WAIT });
      expect(await statusOf(flyoutRow('Release from isolation')).textContent()).toMatch(/^(Pending|In progress)$/);
    });
    await statusOf(flyoutRow('Release from isolation')).filter({ hasText: /^Succeeded$/ }).waitFor({ timeout: 60_000 });
    // The isolation's own row is still there, still Succeeded.
    expect(await statusOf(flyoutRow('Isolate device')).textContent()).toBe('Succeeded');
    await closeActionCenter();
    await badge().waitFor({ state: 'detached', timeout: WAIT });
    await bar().locator('[data-action=Isolate]:not([aria-disabled=true])').waitFor({ timeout: WAIT });
    expect(await bar().locator('[data-action=Unisolate]').count()).toBe(0);

    expect((await cb.machine()).isolationState).toBe('NotIsolated');
    expect(cb.cordonTable()).toBe(false);
    expect(await device.reaches(ADDR.outside, 7000)).toBe('connected');
    expect(await outside.reaches(ADDR.device, 7001)).toBe('connected');
    await screenshot(page, 'console-isolation-released');
  }, 90_000);

  it('never reloaded, logged no problem in the page, and left the host firewall alone', async () => {
    expect(await page.evaluate('window.__cordonNoReload')).toBe(true);
    // The one expected complaint: the session check before signing in.
    const expected401 = /^console: Failed to load resource: the server responded with a status of 401 \(Unauthorized\) \(http:\/\/127\.0\.0\.1:\d+\/api\/auth\/me:\d+\)$/;
    expect(t.problems().filter((p) => !expected401.test(p))).toEqual([]);
    expect(execFileSync('nft', ['list', 'tables'], { encoding: 'utf8' })).not.toMatch(/inet cordon/);
  });
});
