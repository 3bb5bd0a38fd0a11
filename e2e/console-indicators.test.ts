/**
 * The Indicators page in a real browser (Debian's chromium) against a real `cordon server`: list
 * and filters, add through the dialog (with what Linux agents do with it), import of MDE's CSV
 * (all or nothing: a bad row is named by its line and nothing is added), delete one or several,
 * and read-only for roles under responder.
 *
 * No agent runs here: an IP block indicator would be enforced on this machine's own firewall.
 * Screenshots land in e2e/.artifacts/screenshots/console-indicators-*.png.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CordonClient } from '@cordon/cli/client';
import { screenshot, startConsoleBed, type ConsoleBed, type Credentials, type TestPage } from './browser.js';
import { cordon, tempDir } from './helpers.js';

const WAIT = 30_000;
const SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const HEADER = 'IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert';

/** The datetime-local value of a time (the browser runs in this process's time zone). */
function localInput(ms: number): string {
  const d = new Date(ms);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

describe('web console: indicators', () => {
  const dirs: string[] = [];
  let bed: ConsoleBed;
  let api: CordonClient;
  let base: string;
  let work: string;
  const analyst = { username: 'ana.analyst', password: '' };

  /** A page signed in as `user`, the first admin unless told. */
  const open = (user?: Credentials): Promise<TestPage> => bed.signedIn({}, user);

  /** The page's problems, less the refusals (400) of the given API paths, which the test provokes. */
  const unexpected = (t: TestPage, refused: string[]) =>
    t.problems().filter((p) => !refused.some((path) => p === `console: Failed to load resource: the server responded with a status of 400 (Bad Request) (${base}${path}:0)`));

  const table = (page: Page) => page.getByTestId('indicators-table');
  const shownValues = (page: Page) => table(page).getByTestId('indicator-value').allTextContents();
  const expectValues = (page: Page, values: string[]) => expect.poll(() => shownValues(page), { timeout: WAIT }).toEqual(values);
  const values = async () => (await api.indicators()).map((i) => i.indicatorValue).sort();
  const rowOf = (page: Page, value: string) => table(page).locator('tbody tr').filter({ has: page.getByTestId('indicator-value').getByText(value, { exact: true }) });

  /** Picks `option` in the Select labelled `label` inside `scope`. */
  async function choose(page: Page, scope: Locator, label: string, option: string): Promise<void> {
    // A required field's label ends in an asterisk.
    await scope.getByLabel(new RegExp(`^${label}( \\*)?$`)).click();
    await page.getByRole('option', { name: option, exact: true }).click();
  }

  beforeAll(async () => {
    bed = await startConsoleBed('console-indicators', dirs, { pageTimeoutMs: WAIT });
    ({ api, base } = bed);
    const user = await cordon(['user', 'create', '--username', analyst.username, '--role', 'analyst', '--data-dir', bed.serverDir]);
    expect(user.code, user.stderr).toBe(0);
    analyst.password = /^password: (\S+)$/m.exec(user.stdout)![1]!;
    work = tempDir('console-indicators-files');
    dirs.push(work);
  }, 240_000);

  afterAll(() => bed?.close(), 90_000);

  it('adds an indicator through the dialog and says what Linux agents do with it; a bad value is refused in the dialog', async () => {
    const t = await open();
    const { page } = t;
    await page.goto('/');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Indicators' }).click();
    await page.waitForURL((u) => u.pathname === '/indicators');
    await table(page).getByText('No indicators yet').waitFor();

    // An address that is not one: the server's reason, in the dialog, and nothing added.
    await page.getByRole('button', { name: 'Add indicator' }).click();
    const dialog = page.getByRole('dialog');
    await choose(page, dialog, 'Type', 'IP address');
    await choose(page, dialog, 'Action', 'Block');
    await dialog.getByRole('textbox', { name: 'Value' }).fill('10.1.2.300');
    await dialog.getByRole('textbox', { name: 'Title' }).fill('C2 server');
    await dialog.getByRole('button', { name: 'Add indicator' }).click();
    await expect.poll(() => dialog.getByRole('alert').textContent()).toMatch(/not an IPv4 or IPv6 address/);
    expect(await values()).toEqual([]);

    // A domain to block, expiring in a day: saved, and alert-only on Linux, as the page says.
    await choose(page, dialog, 'Type', 'Domain name');
    await dialog.getByRole('textbox', { name: 'Value' }).fill('Phish.Example.com');
    await dialog.getByRole('textbox', { name: 'Title' }).fill('Phishing landing page');
    await choose(page, dialog, 'Severity', 'High');
    await dialog.getByRole('textbox', { name: 'Description' }).fill('reported by the mail team');
    const expires = Date.now() + 24 * 3600_000;
    await dialog.getByLabel('Expires').fill(localInput(expires));
    await dialog.getByRole('button', { name: 'Add indicator' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expectValues(page, ['phish.example.com']);
    const row = rowOf(page, 'phish.example.com');
    expect(await row.getByTestId('indicator-enforcement').textContent()).toBe('Alert only');
    expect(await row.textContent()).toMatch(/Domain name.*Block/);
    const [stored] = await api.indicators();
    expect(stored).toMatchObject({ indicatorType: 'DomainName', action: 'Block', severity: 'High', title: 'Phishing landing page', description: 'reported by the mail team', enforcement: 'AlertOnly' });
    // To the minute the form takes.
    expect(Math.abs(Date.parse(stored!.expirationTime!) - expires)).toBeLessThan(60_000);
    expect(await row.textContent()).toContain(stored!.enforcementNote);
    await screenshot(page, 'console-indicators-added');
    expect(unexpected(t, ['/api/indicators'])).toEqual([]);
  }, 90_000);

  it("imports MDE's CSV from a file", async () => {
    const t = await open();
    const { page } = t;
    const file = join(work, 'iocs.csv');
    writeFileSync(file, `${HEADER}\r\nIpAddress,203.0.113.7,,Block,High,C2 server,"seen in two\r\nincidents",,,CommandAndControl,T1071,true\r\nFileSha256,${SHA256.toUpperCase()},,Alert,Medium,Dropper,,,,,,\r\n`);
    await page.goto('/indicators');
    await expectValues(page, ['phish.example.com']);
    await page.getByRole('button', { name: 'Import CSV' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('input[type="file"]').setInputFiles(file);
    await dialog.getByRole('button', { name: 'Import', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expectValues(page, [SHA256, '203.0.113.7', 'phish.example.com']);
    expect(await rowOf(page, '203.0.113.7').getByTestId('indicator-enforcement').textContent()).toBe('Blocked');
    const ip = (await api.indicators({ filter: "indicatorValue eq '203.0.113.7'" }))[0]!;
    expect(ip).toMatchObject({ description: 'seen in two\nincidents', category: 'CommandAndControl', mitreTechniques: ['T1071'], generateAlert: true });
    expect(t.problems()).toEqual([]);
  }, 60_000);

  it('refuses a CSV with a bad row whole: the error names its line, and nothing is added', async () => {
    const t = await open();
    const { page } = t;
    const file = join(work, 'bad.csv');
    writeFileSync(file, `${HEADER}\nIpAddress,198.51.100.77,,Block,High,good one,,,,,,\nIpAddress,10.1.2.300,,Block,High,typo,,,,,,\n`);
    await page.goto('/indicators');
    await expectValues(page, [SHA256, '203.0.113.7', 'phish.example.com']);
    await page.getByRole('button', { name: 'Import CSV' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.locator('input[type="file"]').setInputFiles(file);
    await dialog.getByRole('button', { name: 'Import', exact: true }).click();
    const error = dialog.getByRole('alert');
    await expect.poll(() => error.textContent()).toMatch(/^bad\.csv line 3: IndicatorValue: '10\.1\.2\.300' is not an IPv4 or IPv6 address.*nothing was imported$/);
    expect(await values()).toEqual([SHA256, '203.0.113.7', 'phish.example.com'].sort());

    // A file that is not an import at all is said so before anything is sent.
    const wrong = join(work, 'wrong.csv');
    writeFileSync(wrong, 'name,address\nweb,10.0.0.1\n');
    await dialog.locator('input[type="file"]').setInputFiles(wrong);
    await dialog.getByRole('button', { name: 'Import', exact: true }).click();
    await expect.poll(() => error.textContent()).toMatch(/^wrong\.csv: line 1: 'name' is not a column of an indicator import/);
    await screenshot(page, 'console-indicators-bad-import');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await expectValues(page, [SHA256, '203.0.113.7', 'phish.example.com']);
    expect(unexpected(t, ['/api/indicators/import'])).toEqual([]);
  }, 60_000);

  it('filters by type, action and value, in the address', async () => {
    const t = await open();
    const { page } = t;
    await page.goto('/indicators');
    const filters = page.getByTestId('indicator-filters');
    await choose(page, filters, 'Type', 'IP address');
    await page.waitForURL((u) => u.searchParams.get('type') === 'IpAddress');
    await expectValues(page, ['203.0.113.7']);
    await page.goto('/indicators?act=Block');
    await expectValues(page, ['203.0.113.7', 'phish.example.com']);
    await filters.getByRole('textbox', { name: 'Value' }).fill('EXAMPLE');
    await page.waitForURL((u) => u.searchParams.get('value') === 'EXAMPLE');
    await expectValues(page, ['phish.example.com']);
    await page.goto('/indicators?type=Url');
    await table(page).getByText('No indicator matches these filters').waitFor();
    expect(t.problems()).toEqual([]);
  }, 60_000);

  it('shows an analyst the indicators and no way to change them', async () => {
    const t = await open(analyst);
    const { page } = t;
    await page.goto('/indicators');
    await expectValues(page, [SHA256, '203.0.113.7', 'phish.example.com']);
    for (const name of ['Add indicator', 'Import CSV', 'Delete']) expect(await page.getByRole('button', { name, exact: true }).getAttribute('aria-disabled')).toBe('true');
    expect(await table(page).getByRole('checkbox').count()).toBe(0);
    expect(t.problems()).toEqual([]);
  }, 60_000);

  it('deletes one indicator, then several at once', async () => {
    const t = await open();
    const { page } = t;
    await page.goto('/indicators');
    await expectValues(page, [SHA256, '203.0.113.7', 'phish.example.com']);
    await rowOf(page, 'phish.example.com').getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Delete (1)' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await expectValues(page, [SHA256, '203.0.113.7']);
    expect(await values()).toEqual([SHA256, '203.0.113.7'].sort());

    for (const v of [SHA256, '203.0.113.7']) await rowOf(page, v).getByRole('checkbox').check();
    await page.getByRole('button', { name: 'Delete (2)' }).click();
    await dialog.getByRole('button', { name: 'Delete', exact: true }).click();
    await dialog.waitFor({ state: 'hidden' });
    await table(page).getByText('No indicators yet').waitFor();
    expect(await values()).toEqual([]);
    expect(t.problems()).toEqual([]);
  }, 60_000);
});
